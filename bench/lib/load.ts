/**
 * Closed-loop HTTP load with autocannon: `connections` connections, each sending its next request
 * as soon as the last is answered, for `durationS` seconds. The request is rebuilt for every send
 * (`next`), so that load spreads over products and customers the way real traffic would.
 */
import autocannon from "autocannon";

export interface RequestShape {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationS: number;
  /** The i-th request to send. */
  readonly next: (i: number) => RequestShape;
}

export interface LoadResult {
  readonly requests: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses per HTTP status. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Connection errors and timeouts (no response at all). */
  readonly errors: number;
}

export const runLoad = async (options: LoadOptions): Promise<LoadResult> => {
  let sent = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationS,
    method: "POST",
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const shape = options.next(sent++);
          return { ...request, method: "POST", path: shape.path, headers: shape.headers, body: shape.body };
        },
      },
    ],
  });
  const statuses: Record<string, number> = {};
  for (const [status, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[status] = stat.count ?? 0;
  const requests = Object.values(statuses).reduce((sum, n) => sum + n, 0);
  return {
    requests,
    perSecond: requests / result.duration,
    // autocannon reports 0 ms when nothing was answered; that is no latency at all, not a fast one.
    p50Ms: requests === 0 ? Number.NaN : result.latency.p50,
    p99Ms: requests === 0 ? Number.NaN : result.latency.p99,
    statuses,
    errors: result.errors,
  };
};

export const describeStatuses = (result: LoadResult): string => {
  const parts = [
    ...Object.entries(result.statuses).map(([status, n]) => `${n}×${status}`),
    ...(result.errors > 0 ? [`${result.errors} errors`] : []),
  ];
  return parts.length === 0 ? "no response within the run" : parts.join(", ");
};
