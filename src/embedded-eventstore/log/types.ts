/** An event as the log stores it. Revisions and positions are plain numbers: 2^53 is far beyond what one node holds. */
export interface StoredEvent {
  /** Log position; commit and prepare positions are equal on this single-node log. */
  readonly position: number;
  readonly streamId: string;
  readonly revision: number;
  readonly eventId: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
  /** Microseconds since the Unix epoch (the wire format wants 100-ns ticks, derived when encoded). */
  readonly createdMicros: number;
}

export interface ProposedEvent {
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
}

export type ExpectedRevision =
  | { readonly kind: "any" }
  | { readonly kind: "no_stream" }
  | { readonly kind: "stream_exists" }
  | { readonly kind: "revision"; readonly revision: number };

export type CurrentRevision = number | "no_stream";

export type AppendOutcome =
  | { readonly kind: "success"; readonly revision: number; readonly position: number }
  | { readonly kind: "wrong_expected_version"; readonly current: CurrentRevision; readonly expected: ExpectedRevision }
  | { readonly kind: "stream_deleted" };

export type DeleteOutcome =
  | { readonly kind: "success"; readonly position: number }
  | { readonly kind: "wrong_expected_version"; readonly current: CurrentRevision; readonly expected: ExpectedRevision }
  | { readonly kind: "stream_deleted" };

export type Direction = "forwards" | "backwards";

/** EventStoreDB writes a tombstone at revision long.MaxValue; the log keeps it at this sentinel and encodes it as that. */
export const TOMBSTONE_REVISION = Number.MAX_SAFE_INTEGER;
export const INT64_MAX = "9223372036854775807";
export const TOMBSTONE_EVENT_TYPE = "$streamDeleted";
export const METADATA_EVENT_TYPE = "$metadata";
export const LINK_EVENT_TYPE = "$>";

export const metastreamOf = (streamId: string): string => `$$${streamId}`;
export const isMetastream = (streamId: string): boolean => streamId.startsWith("$$");
export const isSystemStream = (streamId: string): boolean => streamId.startsWith("$");

/**
 * Streams that EventStoreDB leaves out of every `$all` read and subscription: its epoch records and
 * the checkpoints and parked messages of `$all` persistent subscriptions.
 */
export const isHiddenFromAll = (streamId: string): boolean =>
  streamId === "$epoch-information" ||
  (streamId.startsWith("$persistentsubscription-$all::") && (streamId.endsWith("-checkpoint") || streamId.endsWith("-parked")));
