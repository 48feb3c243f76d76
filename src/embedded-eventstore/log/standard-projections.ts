import { parseStreamMetadata } from "./stream-metadata.js";
import {
  INT64_MAX,
  LINK_EVENT_TYPE,
  METADATA_EVENT_TYPE,
  type StoredEvent,
  TOMBSTONE_EVENT_TYPE,
  TOMBSTONE_REVISION,
  isMetastream,
  isSystemStream,
} from "./types.js";

/**
 * EventStoreDB's standard projections, as the links each record of the log makes them emit. They
 * follow the server's native handlers (Projections.Core/Standard) and the reader that feeds them
 * (TransactionFileEventFilter, ReaderSubscriptionBase): what is skipped here is skipped there.
 */
export const PROJECTIONS = {
  streams: { kind: 0, name: "$streams" },
  byCategory: { kind: 1, name: "$by_category" },
  byEventType: { kind: 2, name: "$by_event_type" },
  byCorrelationId: { kind: 3, name: "$by_correlation_id" },
  streamByCategory: { kind: 4, name: "$stream_by_category" },
} as const;

export type ProjectionKind = (typeof PROJECTIONS)[keyof typeof PROJECTIONS]["kind"];

/** The ids a fresh node gives them, in the order it creates them. */
const PROJECTION_IDS: Record<ProjectionKind, number> = { 0: 1, 4: 2, 1: 3, 2: 4, 3: 5 };

/** `$stream_by_category` writes stream references (`$@`, data: the stream's name), which are never resolved; the others links. */
export const STREAM_REFERENCE_EVENT_TYPE = "$@";
export const linkTypeOf = (kind: ProjectionKind): string =>
  kind === PROJECTIONS.streamByCategory.kind ? STREAM_REFERENCE_EVENT_TYPE : LINK_EVENT_TYPE;

/** The standard projections' version tag: projection id, epoch, version, projections subsystem version (4 on 24.10). */
const versionTag = (kind: ProjectionKind): string => `${PROJECTION_IDS[kind]}:-1:1:4`;

export const STREAMS_STREAM = "$streams";

/** The stream names only the projections write: their links are kept in an index, not as events. */
export const isProjectionStream = (streamId: string): boolean =>
  streamId === STREAMS_STREAM ||
  streamId.startsWith("$ce-") ||
  streamId.startsWith("$et-") ||
  streamId.startsWith("$bc-") ||
  streamId.startsWith("$category-");

/** A link (or stream reference) a projection emits for one record of the log. */
export interface ProjectedLink {
  readonly kind: ProjectionKind;
  readonly stream: string;
  /** The link's data, "<revision>@<stream>" (a stream reference's: the stream's name). */
  readonly target: string;
}

/**
 * A record as a projection sees it: the record in the log (which may itself be a link) and, for a
 * link, the event it resolves to.
 */
export interface ProjectionSource {
  readonly record: StoredEvent;
  /** The event a `$>` record resolves to; undefined for other records and for links that do not resolve. */
  readonly resolved: StoredEvent | undefined;
}

/** `first\n-`, the `$by_category` source: the text before the first '-', never for `$` streams. */
export const categoryOf = (streamId: string): string | undefined => {
  if (streamId.startsWith("$")) return undefined;
  const separator = streamId.indexOf("-");
  return separator > 0 ? streamId.slice(0, separator) : undefined;
};

/** The reader passes user streams, and metadata streams of user streams; no other `$` stream. */
const passesSource = (streamId: string): boolean =>
  !isSystemStream(streamId) || (isMetastream(streamId) && !isSystemStream(streamId.slice(2)));

/** A tombstone, or a metadata event that soft-deletes its stream (`$tb` = long.MaxValue): the stream it deletes. */
const deletedStreamOf = (record: StoredEvent): string | undefined => {
  if (isMetastream(record.streamId)) {
    return record.type === METADATA_EVENT_TYPE && parseStreamMetadata(record.data).softDeleted ? record.streamId.slice(2) : undefined;
  }
  return record.type === TOMBSTONE_EVENT_TYPE && record.revision === TOMBSTONE_REVISION ? record.streamId : undefined;
};

const isJson = (event: StoredEvent): boolean => event.contentType === "application/json";

/** EventStoreDB's content-type validation: a JSON event whose data is empty or not JSON is skipped by every projection. */
const hasValidJsonData = (event: StoredEvent): boolean => {
  if (event.data.length === 0) return false;
  try {
    JSON.parse(Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength).toString("utf8"));
    return true;
  } catch {
    return false;
  }
};

const parseJsonObject = (bytes: Uint8Array): Record<string, unknown> | undefined => {
  if (bytes.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

const CORRELATION_KEY = Buffer.from('"$correlationId"', "utf8");

/** `$correlationId` from an event's metadata as Json.NET's `Value<string>()` reads it (numbers become text). */
export const correlationIdOf = (event: StoredEvent): string | undefined => {
  // Most metadata has none: finding the key's bytes is far cheaper than parsing.
  if (Buffer.from(event.metadata.buffer, event.metadata.byteOffset, event.metadata.byteLength).indexOf(CORRELATION_KEY) < 0) {
    return undefined;
  }
  const value = parseJsonObject(event.metadata)?.["$correlationId"];
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
};

const at = (revision: number, streamId: string): string => `${revision === TOMBSTONE_REVISION ? INT64_MAX : String(revision)}@${streamId}`;

const dataText = (record: StoredEvent): string =>
  Buffer.from(record.data.buffer, record.data.byteOffset, record.data.byteLength).toString("utf8");

/** The links the standard projections emit for one record, in the order the server's projections would write them. */
export const projectRecord = ({ record, resolved }: ProjectionSource): ProjectedLink[] => {
  if (!passesSource(record.streamId)) return [];
  const isLink = record.type === LINK_EVENT_TYPE;
  // A link whose target is gone is dropped by the projections' reader before any handler sees it.
  if (isLink && !resolved) return [];
  const event = resolved ?? record;
  const deletedStream = isLink ? undefined : deletedStreamOf(record);
  if (deletedStream === undefined && isJson(event) && !hasValidJsonData(event)) return [];

  const links: ProjectedLink[] = [];
  if (record.revision === 0) {
    links.push({ kind: PROJECTIONS.streams.kind, stream: STREAMS_STREAM, target: at(0, record.streamId) });
    const streamCategory = categoryOf(record.streamId);
    if (streamCategory !== undefined) {
      links.push({ kind: PROJECTIONS.streamByCategory.kind, stream: `$category-${streamCategory}`, target: record.streamId });
    }
  }

  const category = categoryOf(deletedStream ?? record.streamId);
  if (category !== undefined) {
    links.push({ kind: PROJECTIONS.byCategory.kind, stream: `$ce-${category}`, target: at(event.revision, event.streamId) });
  }

  if (!isLink) {
    links.push(
      deletedStream === undefined
        ? { kind: PROJECTIONS.byEventType.kind, stream: `$et-${record.type}`, target: at(record.revision, record.streamId) }
        : // As the server does: the deleting record's number, but the deleted stream's name.
          { kind: PROJECTIONS.byEventType.kind, stream: "$et-$deleted", target: at(record.revision, deletedStream) },
    );
    const correlationId = correlationIdOf(record);
    if (correlationId !== undefined) {
      links.push({ kind: PROJECTIONS.byCorrelationId.kind, stream: `$bc-${correlationId}`, target: at(record.revision, record.streamId) });
    }
  }
  return links;
};

/** The target of a link of the given kind, recomputed from its source record when it is read. */
export const linkTargetOf = (kind: ProjectionKind, source: ProjectionSource): string => {
  const { record, resolved } = source;
  const event = resolved ?? record;
  switch (kind) {
    case PROJECTIONS.streams.kind:
      return at(0, record.streamId);
    case PROJECTIONS.byCategory.kind:
      // A link whose target has gone since keeps pointing where it pointed.
      return record.type === LINK_EVENT_TYPE && !resolved ? dataText(record) : at(event.revision, event.streamId);
    case PROJECTIONS.byEventType.kind:
      return at(record.revision, deletedStreamOf(record) ?? record.streamId);
    case PROJECTIONS.byCorrelationId.kind:
      return at(record.revision, record.streamId);
    case PROJECTIONS.streamByCategory.kind:
      return record.streamId;
  }
};

/** "yyyy-MM-ddTHH:mm:ss.ffffffZ", the format `$by_correlation_id` writes `$eventTimestamp` in. */
const timestampOf = (micros: number): string => {
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, 19)}.${String(micros % 1_000_000).padStart(6, "0")}Z`;
};

/**
 * A link's metadata as the projection writes it: its checkpoint tag (`$v`, `$c`, `$p`: the source
 * record's position), the handler's extras, then `$causedBy` and `$correlationId` of the event.
 */
export const linkMetadataOf = (kind: ProjectionKind, source: ProjectionSource): string => {
  const { record, resolved } = source;
  const event = resolved ?? record;
  const parts: string[] = [`"$v":${JSON.stringify(versionTag(kind))}`, `"$c":${record.position}`, `"$p":${record.position}`];
  const isLink = record.type === LINK_EVENT_TYPE;
  const deletedStream = isLink ? undefined : deletedStreamOf(record);
  if (kind === PROJECTIONS.byCategory.kind) {
    parts.push(`"$o":${JSON.stringify(deletedStream ?? record.streamId)}`);
    if (deletedStream !== undefined) parts.push(`"$deleted":-1`);
  } else if (kind === PROJECTIONS.byEventType.kind && deletedStream !== undefined) {
    parts.push(`"$deleted":-1`);
  } else if (kind === PROJECTIONS.byCorrelationId.kind) {
    parts.push(`"$eventTimestamp":${JSON.stringify(timestampOf(record.createdMicros))}`);
  }
  if (!isLink || resolved) parts.push(`"$causedBy":${JSON.stringify(event.eventId)}`);
  const correlationId = isJson(event) ? correlationIdOf(event) : undefined;
  if (correlationId !== undefined) parts.push(`"$correlationId":${JSON.stringify(correlationId)}`);
  return `{${parts.join(",")}}`;
};
