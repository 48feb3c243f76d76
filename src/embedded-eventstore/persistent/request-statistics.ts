/** One of a connection's latency figures, in milliseconds, keyed as EventStoreDB names them. */
export interface Measurement {
  readonly key: string;
  readonly value: number;
}

/** EventStoreDB keeps the last 1,000 round trips of each connection. */
const WINDOW = 1000;

/** Index of a percentile in a sorted window, truncated as the server does (never past the end). */
const percentileIndex = (percentile: number, size: number): number => Math.min(size - 1, Math.floor((percentile / 100) * size));

/**
 * A connection's "extra statistics" (groups created with `extraStatistics`): how long each message
 * took from being handed out to being acked or nacked, over a sliding window, summarised as the
 * server's `RequestStatistics` does (whole milliseconds; mean, median, fastest, quintiles, high percentiles).
 */
export class RequestStatistics {
  private readonly started = new Map<string, number>();
  private readonly window: number[] = [];

  constructor(private readonly now: () => number = () => performance.now()) {}

  start(id: string): void {
    this.started.set(id, this.now());
  }

  end(id: string): void {
    const start = this.started.get(id);
    if (start === undefined) return;
    this.started.delete(id);
    if (this.window.length >= WINDOW) this.window.shift();
    this.window.push(Math.floor(this.now() - start));
  }

  measurements(): Measurement[] {
    if (this.window.length === 0) return [];
    const items = [...this.window].sort((a, b) => a - b);
    const at = (percentile: number): number => items[percentileIndex(percentile, items.length)] ?? 0;
    const sum = items.reduce((total, item) => total + item, 0);
    return [
      { key: "Mean", value: Math.floor(sum / items.length) },
      { key: "Median", value: items[Math.floor(items.length / 2)] ?? 0 },
      { key: "Fastest", value: items[0] ?? 0 },
      ...[0, 1, 2, 3, 4].map((quintile) => ({ key: `Quintile ${quintile + 1}`, value: at(quintile * 20) })),
      { key: "90%", value: at(90) },
      { key: "95%", value: at(95) },
      { key: "99%", value: at(99) },
      { key: "99.5%", value: at(99.5) },
      { key: "99.9%", value: at(99.9) },
      { key: "Highest", value: items.at(-1) ?? 0 },
    ];
  }
}
