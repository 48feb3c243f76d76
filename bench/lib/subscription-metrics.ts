/**
 * The service's consumer-group figures from its Prometheus text (`GET /metrics`):
 * `subscription_lag_seconds` (event appended → handled) and `subscription_events_handled_total`.
 */

export interface GroupLag {
  readonly count: number;
  /** Seconds. */
  readonly sum: number;
  /** Upper bound (seconds) of the bucket holding the 50th / 99th percentile; Infinity past the last bucket. */
  readonly p50UpperS: number;
  readonly p99UpperS: number;
  /** Deliveries per outcome (handled, retried, parked, …). */
  readonly outcomes: Readonly<Record<string, number>>;
}

interface Histogram {
  readonly buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}

const labelOf = (labels: string, name: string): string => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? "?";

const bucketUpperBound = (histogram: Histogram, p: number): number => {
  const target = (p / 100) * histogram.count;
  const bucket = [...histogram.buckets].sort((a, b) => a.le - b.le).find((entry) => entry.count >= target);
  return bucket?.le ?? Number.NaN;
};

export const parseSubscriptionMetrics = (text: string): Map<string, GroupLag> => {
  const histograms = new Map<string, Histogram>();
  const outcomes = new Map<string, Record<string, number>>();
  for (const line of text.split("\n")) {
    const lag = /^subscription_lag_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/.exec(line);
    if (lag) {
      const [, kind = "", labels = "", value = "0"] = lag;
      const group = labelOf(labels, "group");
      const histogram = histograms.get(group) ?? { buckets: [], sum: 0, count: 0 };
      histograms.set(group, histogram);
      if (kind === "bucket") {
        const le = labelOf(labels, "le");
        histogram.buckets.push({ le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), count: Number(value) });
      } else if (kind === "sum") histogram.sum = Number(value);
      else histogram.count = Number(value);
      continue;
    }
    const handled = /^subscription_events_handled_total\{([^}]*)\} (\S+)$/.exec(line);
    if (handled) {
      const group = labelOf(handled[1] ?? "", "group");
      const record = outcomes.get(group) ?? {};
      record[labelOf(handled[1] ?? "", "outcome")] = Number(handled[2]);
      outcomes.set(group, record);
    }
  }
  const groups = new Map<string, GroupLag>();
  for (const [group, histogram] of histograms) {
    groups.set(group, {
      count: histogram.count,
      sum: histogram.sum,
      p50UpperS: bucketUpperBound(histogram, 50),
      p99UpperS: bucketUpperBound(histogram, 99),
      outcomes: outcomes.get(group) ?? {},
    });
  }
  return groups;
};

/** "≤ 25 ms", "> last bucket" or "-". */
export const formatUpperBound = (seconds: number): string =>
  Number.isNaN(seconds) ? "-" : seconds === Number.POSITIVE_INFINITY ? "> last bucket" : `≤ ${seconds * 1000} ms`;
