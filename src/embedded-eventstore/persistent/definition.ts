import type { EventFilter } from "../log/event-filter.js";

export type ConsumerStrategy = "RoundRobin" | "DispatchToSingle" | "Pinned" | "PinnedByCorrelation";

export const CONSUMER_STRATEGIES: readonly ConsumerStrategy[] = ["RoundRobin", "DispatchToSingle", "Pinned", "PinnedByCorrelation"];

/** Where a group starts when it has no checkpoint: a stream revision or a `$all` position. */
export type StartFrom = { readonly kind: "start" } | { readonly kind: "end" } | { readonly kind: "at"; readonly value: number };

export interface GroupSettings {
  readonly startFrom: StartFrom;
  readonly resolveLinkTos: boolean;
  readonly extraStatistics: boolean;
  readonly messageTimeoutMs: number;
  readonly maxRetryCount: number;
  readonly checkPointAfterMs: number;
  readonly minCheckPointCount: number;
  readonly maxCheckPointCount: number;
  /** 0 means unbounded. */
  readonly maxSubscriberCount: number;
  readonly liveBufferSize: number;
  readonly readBatchSize: number;
  readonly historyBufferSize: number;
  readonly consumerStrategy: ConsumerStrategy;
}

/** A filter in a form that can be stored in the configuration stream. */
export interface StoredFilter {
  readonly on: EventFilter["on"];
  readonly regex: string;
  readonly prefixes: readonly string[];
}

export type GroupSource = { readonly kind: "stream"; readonly stream: string } | { readonly kind: "all"; readonly filter?: StoredFilter };

export interface GroupDefinition {
  readonly source: GroupSource;
  readonly group: string;
  readonly settings: GroupSettings;
}

/** The name EventStoreDB gives the source in stream names and in subscription info. */
export const sourceName = (source: GroupSource): string => (source.kind === "all" ? "$all" : source.stream);

export const groupKey = (source: GroupSource, group: string): string => `${sourceName(source)}::${group}`;

export const checkpointStreamOf = (source: GroupSource, group: string): string =>
  `$persistentsubscription-${groupKey(source, group)}-checkpoint`;

export const parkedStreamOf = (source: GroupSource, group: string): string => `$persistentsubscription-${groupKey(source, group)}-parked`;

/** How positions are written in checkpoints and subscription info: a revision, or `C:<commit>/P:<prepare>` for `$all`. */
export const formatPosition = (source: GroupSource, position: number): string =>
  source.kind === "all" ? `C:${position}/P:${position}` : String(position);

export const formatStartFrom = (source: GroupSource, startFrom: StartFrom): string => {
  if (source.kind === "all") {
    return startFrom.kind === "start" ? "C:0/P:0" : startFrom.kind === "end" ? "C:-1/P:-1" : formatPosition(source, startFrom.value);
  }
  return startFrom.kind === "start" ? "0" : startFrom.kind === "end" ? "-1" : String(startFrom.value);
};
