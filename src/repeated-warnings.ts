import type { Logger } from "./logger.js";

/** Long enough that an outage reads as a handful of lines, short enough to show it is still going on. */
const DEFAULT_WINDOW_MS = 60_000;

/**
 * Logs a recurring warning once, then says how often it recurred: a poll that fails every second
 * during an outage would otherwise bury everything else. The first occurrence of a message is
 * logged at once; repeats within the window are counted, and at its end one line says
 * "(repeated N times in the last … s)". A message that stops recurring is logged afresh next time.
 */
export class RepeatedWarnings {
  private readonly pending = new Map<string, { count: number; context: Record<string, unknown>; timer: NodeJS.Timeout }>();

  constructor(
    private readonly logger: Logger,
    private readonly windowMs = DEFAULT_WINDOW_MS,
  ) {}

  warn(context: Record<string, unknown>, message: string): void {
    const entry = this.pending.get(message);
    if (entry) {
      entry.count += 1;
      entry.context = context;
      return;
    }
    this.logger.warn(context, message);
    this.open(message, context);
  }

  /** Writes any summary now and stops counting (on shutdown). */
  flush(): void {
    for (const [message, entry] of this.pending) {
      clearTimeout(entry.timer);
      this.summarize(message, entry.count, entry.context);
    }
    this.pending.clear();
  }

  private open(message: string, context: Record<string, unknown>): void {
    const timer = setTimeout(() => {
      const entry = this.pending.get(message);
      this.pending.delete(message);
      if (!entry || entry.count === 0) return;
      this.summarize(message, entry.count, entry.context);
      // Still recurring: keep counting in a new window rather than logging the next one in full.
      this.open(message, entry.context);
    }, this.windowMs);
    timer.unref();
    this.pending.set(message, { count: 0, context, timer });
  }

  private summarize(message: string, count: number, context: Record<string, unknown>): void {
    if (count === 0) return;
    this.logger.warn(
      { ...context, repeated: count },
      `${message} (repeated ${count} times in the last ${Math.round(this.windowMs / 100) / 10} s)`,
    );
  }
}
