import type { StoredEvent } from "../log/types.js";
import { atomTime } from "./respond.js";

/** How much of each event a feed carries, as EventStoreDB's `embed` query parameter says. */
export type EmbedLevel = "none" | "content" | "rich" | "body" | "prettybody" | "tryharder";

const EMBED_ORDER: readonly EmbedLevel[] = ["none", "content", "rich", "body", "prettybody", "tryharder"];

export const parseEmbed = (value: string | null): EmbedLevel => {
  const level = value?.toLowerCase();
  return EMBED_ORDER.find((candidate) => candidate === level) ?? "none";
};

const atLeast = (level: EmbedLevel, minimum: EmbedLevel): boolean => EMBED_ORDER.indexOf(level) >= EMBED_ORDER.indexOf(minimum);

/** A record as a reader gets it: the event, and the link it was reached through when links are resolved. */
export interface ReadRecord {
  /** Undefined when a link's target is no longer readable. */
  readonly event: StoredEvent | undefined;
  readonly link: StoredEvent | undefined;
}

export interface AtomLink {
  readonly uri: string;
  readonly relation: string;
}

export const AUTHOR = { name: "EventStore" } as const;

const utf8 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8");

export const isJsonEvent = (event: StoredEvent): boolean => event.contentType === "application/json";

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** Newtonsoft's indented form of a JSON object; anything else stays as it is, as on the server. */
const prettyObject = (text: string): string => {
  const parsed = parseJson(text);
  return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? JSON.stringify(parsed, null, 2) : text;
};

export const streamUrl = (base: string, stream: string): string => `${base}/streams/${encodeURIComponent(stream)}`;

const eventUrl = (base: string, stream: string, number: number): string => `${streamUrl(base, stream)}/${number}`;

/** "<revision>@<stream>", the data of a `$>` link. */
const linkTarget = (link: StoredEvent): { stream: string; number: number } | undefined => {
  const text = utf8(link.data);
  const at = text.indexOf("@");
  const number = Number(text.slice(0, at));
  return at > 0 && Number.isSafeInteger(number) ? { stream: text.slice(at + 1), number } : undefined;
};

/** The event document of `application/vnd.eventstore.event+json`, also an atom entry's `content`. */
export const eventDocument = (event: StoredEvent): Record<string, unknown> => {
  const json = isJsonEvent(event);
  const data = utf8(event.data);
  const metadata = utf8(event.metadata);
  return {
    eventStreamId: event.streamId,
    eventNumber: event.revision,
    eventType: event.type,
    eventId: event.eventId,
    data: json ? (parseJson(data) ?? data) : data,
    metadata: json ? (parseJson(metadata) ?? metadata) : metadata,
  };
};

/** One atom entry, field for field as EventStoreDB's `Convert.ToEntry` builds it. */
export const atomEntry = (record: ReadRecord, base: string, embed: EmbedLevel, singleEntry = false): Record<string, unknown> => {
  const { event, link } = record;
  const original = link ?? event;
  const entry: Record<string, unknown> = {};
  if (atLeast(embed, "rich") && event && original) {
    let isJson = isJsonEvent(event);
    let data: string | undefined;
    let metaData: string | undefined;
    let linkMetaData: string | undefined;
    if (atLeast(embed, "body")) {
      const text = utf8(event.data);
      if (isJson) data = atLeast(embed, "prettybody") ? prettyObject(text) : text;
      else if (embed === "tryharder") {
        data = text;
        const parsed = parseJson(text);
        if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
          data = JSON.stringify(parsed, null, 2);
          isJson = true;
        }
      }
      const meta = utf8(event.metadata);
      metaData = meta === "" ? undefined : atLeast(embed, "prettybody") ? prettyObject(meta) : meta;
      if (link) {
        const linkMeta = utf8(link.metadata);
        linkMetaData = linkMeta === "" ? undefined : atLeast(embed, "prettybody") ? prettyObject(linkMeta) : linkMeta;
      }
    }
    Object.assign(entry, {
      eventId: event.eventId,
      eventType: event.type,
      eventNumber: event.revision,
      ...(data === undefined ? {} : { data }),
      ...(metaData === undefined ? {} : { metaData }),
      ...(linkMetaData === undefined ? {} : { linkMetaData }),
      streamId: event.streamId,
      isJson,
      isMetaData: metaData !== undefined,
      isLinkMetaData: linkMetaData !== undefined,
      positionEventNumber: original.revision,
      positionStreamId: original.streamId,
    });
  }
  let location: { stream: string; number: number; time: number; summary: string } | undefined;
  if (event && !link) location = { stream: event.streamId, number: event.revision, time: event.createdMicros, summary: event.type };
  else if (link) {
    const target = linkTarget(link);
    location = target && { ...target, time: link.createdMicros, summary: "$>" };
  }
  if (location) {
    const url = eventUrl(base, location.stream, location.number);
    Object.assign(entry, {
      title: `${location.number}@${location.stream}`,
      id: url,
      updated: atomTime(location.time),
      author: AUTHOR,
      summary: location.summary,
    });
    if (event && !link && (singleEntry || embed === "content") && isJsonEvent(event)) entry.content = eventDocument(event);
    entry.links = [
      { uri: url, relation: "edit" },
      { uri: url, relation: "alternate" },
    ] satisfies AtomLink[];
  }
  return entry;
};
