import type { StoredEvent } from "../log/types.js";
import { INT64_MAX, TOMBSTONE_REVISION } from "../log/types.js";
import { microsToTicks } from "../log/clock.js";
import { sharedPb, type StreamIdentifier, type UUID } from "./proto.js";

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const toUnsigned64 = (text: string): bigint => BigInt.asUintN(64, BigInt(text));
const toSigned64 = (value: bigint): string => BigInt.asIntN(64, value).toString();

/** A UUID from either wire form; undefined when absent or malformed. */
export const readUuid = (uuid: UUID | undefined): string | undefined => {
  if (!uuid) return undefined;
  if (uuid.hasStructured()) {
    const structured = uuid.getStructured();
    if (!structured) return undefined;
    const most = toUnsigned64(structured.getMostSignificantBits()).toString(16).padStart(16, "0");
    const least = toUnsigned64(structured.getLeastSignificantBits()).toString(16).padStart(16, "0");
    const hex = most + least;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  const text = uuid.getString().toLowerCase();
  return UUID_PATTERN.test(text) ? text : undefined;
};

/** The client asks for UUIDs as strings or as two 64-bit halves ("structured"); both are honoured. */
export const writeUuid = (id: string, structured: boolean): UUID => {
  const uuid = new sharedPb.UUID();
  if (!structured) {
    uuid.setString(id);
    return uuid;
  }
  const hex = id.replace(/-/g, "");
  const parts = new sharedPb.UUID.Structured();
  parts.setMostSignificantBits(toSigned64(BigInt(`0x${hex.slice(0, 16)}`)));
  parts.setLeastSignificantBits(toSigned64(BigInt(`0x${hex.slice(16)}`)));
  uuid.setStructured(parts);
  return uuid;
};

export const readStreamName = (identifier: StreamIdentifier | undefined): string | undefined => {
  if (!identifier) return undefined;
  return Buffer.from(identifier.getStreamName_asU8()).toString("utf8");
};

export const streamIdentifier = (name: string): StreamIdentifier => {
  const identifier = new sharedPb.StreamIdentifier();
  identifier.setStreamName(Buffer.from(name, "utf8"));
  return identifier;
};

export const revisionToWire = (revision: number): string => (revision === TOMBSTONE_REVISION ? INT64_MAX : String(revision));

/** Parses a uint64 carried as a decimal string; values beyond the safe range are clamped, as no log gets there. */
export const wireToNumber = (text: string): number => {
  const value = BigInt(text);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
};

/** The setters shared by the streams and persistent-subscriptions RecordedEvent messages. */
interface RecordedEventMessage {
  setId(value?: UUID): void;
  setStreamIdentifier(value?: StreamIdentifier): void;
  setStreamRevision(value: string): void;
  setPreparePosition(value: string): void;
  setCommitPosition(value: string): void;
  getMetadataMap(): { set(key: string, value: string): unknown };
  setCustomMetadata(value: Uint8Array | string): void;
  setData(value: Uint8Array | string): void;
}

export const fillRecordedEvent = <T extends RecordedEventMessage>(message: T, event: StoredEvent, structuredIds: boolean): T => {
  message.setId(writeUuid(event.eventId, structuredIds));
  message.setStreamIdentifier(streamIdentifier(event.streamId));
  message.setStreamRevision(revisionToWire(event.revision));
  message.setPreparePosition(String(event.position));
  message.setCommitPosition(String(event.position));
  const metadata = message.getMetadataMap();
  metadata.set("type", event.type);
  metadata.set("created", microsToTicks(event.createdMicros));
  metadata.set("content-type", event.contentType);
  message.setCustomMetadata(event.metadata);
  message.setData(event.data);
  return message;
};
