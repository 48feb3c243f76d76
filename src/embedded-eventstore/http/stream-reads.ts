import type { IncomingMessage, ServerResponse } from "node:http";
import type { EventLog } from "../log/event-log.js";
import type { LongPolls } from "./long-poll.js";
import { isMetastream, metastreamOf } from "../log/types.js";
import { AUTHOR, type AtomLink, type EmbedLevel, atomEntry, eventDocument, isJsonEvent, parseEmbed, streamUrl } from "./atom-entry.js";
import { IMMUTABLE, baseUrl, longPollSeconds, positionETag, resolveLinkTos, revalidate, toRecord } from "./read-options.js";
import { ATOM_JSON, EVENT_JSON, JSON_TYPE, OCTET_STREAM, atomTime, negotiate, sendJson, sendStatus } from "./respond.js";

const FEED_TYPES = [ATOM_JSON, JSON_TYPE] as const;
const EVENT_TYPES = [ATOM_JSON, EVENT_JSON, JSON_TYPE, OCTET_STREAM] as const;
const DEFAULT_COUNT = 20;
const MAX_COUNT = 4096;

type Page =
  | { readonly kind: "backward"; readonly from: number | "head"; readonly count: number }
  | { readonly kind: "forward"; readonly from: number; readonly count: number };

/** `/streams/{stream}[/{event}[/{backward|forward}]/{count}]` below the stream name, or why it is a 400. */
const parsePage = (rest: readonly string[]): Page | { readonly event: number | "head" } | string => {
  const [event, third, fourth, ...extra] = rest;
  if (extra.length > 0) return "Not found";
  if (event === undefined) return { kind: "backward", from: "head", count: DEFAULT_COUNT };
  const from = event === "head" ? "head" : /^\d+$/.test(event) ? Number(event) : undefined;
  if (from === undefined) return `'${event}' is not valid event number`;
  if (third === undefined) return { event: from };
  const direction = fourth === undefined ? "backward" : third;
  const countText = fourth ?? third;
  const count = /^\d+$/.test(countText) ? Number(countText) : 0;
  if (count < 1 || count > MAX_COUNT) return `'${countText}' is not valid count. Should be positive integer`;
  if (direction === "backward") return { kind: "backward", from, count };
  if (direction === "forward" && from !== "head") return { kind: "forward", from, count };
  return "Not found";
};

export interface StreamReadContext {
  readonly log: EventLog;
  readonly longPolls: LongPolls;
}

/** `GET /streams/{stream}…` for any stream but `$all`: pages of an atom feed, or one event. */
export const getStream = async (
  context: StreamReadContext,
  request: IncomingMessage,
  response: ServerResponse,
  stream: string,
  rest: readonly string[],
  query: URLSearchParams,
): Promise<void> => {
  if (stream === "") return sendStatus(response, 400, `Invalid stream name '${stream}'`);
  const resolve = resolveLinkTos(request);
  if (resolve === "invalid") return sendStatus(response, 400, "ES-ResolveLinkTos header in wrong format.");
  if (rest[0] === "metadata" && rest.length === 1) return getMetadata(context, request, response, stream);
  const page = parsePage(rest);
  if (typeof page === "string") return sendStatus(response, page === "Not found" ? 404 : 400, page);
  const embed = parseEmbed(query.get("embed"));
  if ("event" in page) return getEvent(context, request, response, stream, page.event, resolve, embed);
  const contentType = negotiate(request, FEED_TYPES);
  if (!contentType) return sendStatus(response, 406, "Not Acceptable");
  if (page.kind === "forward") return getForward(context, request, response, stream, page, resolve, embed, contentType);
  return getBackward(context, request, response, stream, page, resolve, embed, contentType);
};

const feedHead = (stream: string, self: string, updated: string, headOfStream: boolean): Record<string, unknown> => ({
  title: `Event stream '${stream}'`,
  id: self,
  updated,
  streamId: stream,
  author: AUTHOR,
  headOfStream,
});

const getBackward = (
  context: StreamReadContext,
  request: IncomingMessage,
  response: ServerResponse,
  stream: string,
  page: Extract<Page, { kind: "backward" }>,
  resolve: boolean,
  embed: EmbedLevel,
  contentType: string,
): void => {
  const { log } = context;
  const events = log.readStream(stream, page.from === "head" ? "end" : page.from, "backwards", page.count);
  if (events === "deleted") return sendStatus(response, 410, "Deleted");
  if (events === "not_found") return sendStatus(response, 404, "Not Found");
  const last = log.streamInfo(stream).last;
  const from = page.from === "head" ? last : page.from;
  const headOfStream = page.from === "head" || from >= last;
  const base = baseUrl(request);
  const self = streamUrl(base, stream);
  const next = from - page.count;
  const endOfStream = next < 0 || events.length < page.count;
  const links: AtomLink[] = [
    { uri: self, relation: "self" },
    { uri: `${self}/head/backward/${page.count}`, relation: "first" },
  ];
  if (!endOfStream) {
    links.push({ uri: `${self}/0/forward/${page.count}`, relation: "last" });
    links.push({ uri: `${self}/${next}/backward/${page.count}`, relation: "next" });
  }
  links.push({ uri: `${self}/${Math.min(from, last) + 1}/forward/${page.count}`, relation: "previous" });
  links.push({ uri: `${self}/metadata`, relation: "metadata" });
  const etag = positionETag(last, contentType);
  const feed = {
    ...feedHead(stream, self, atomTime(events[0]?.createdMicros ?? 0), headOfStream),
    selfUrl: self,
    ...(headOfStream ? { eTag: etag.slice(1, -1) } : {}),
    links,
    entries: events.map((event) => atomEntry(toRecord(log, event, resolve), base, embed)),
  };
  const cacheable = last >= from && !headOfStream;
  sendJson(response, feed, contentType, cacheable ? IMMUTABLE : revalidate(etag));
};

const getForward = async (
  context: StreamReadContext,
  request: IncomingMessage,
  response: ServerResponse,
  stream: string,
  page: Extract<Page, { kind: "forward" }>,
  resolve: boolean,
  embed: EmbedLevel,
  contentType: string,
): Promise<void> => {
  const { log } = context;
  const poll = longPollSeconds(request);
  if (poll === "invalid") return sendStatus(response, 400, "ES-LongPoll header in wrong format.");
  let events = log.readStream(stream, page.from, "forwards", page.count);
  const deadline = Date.now() + poll * 1000;
  // A long poll waits at the head of the stream for the next commit instead of answering empty.
  while (Array.isArray(events) && events.length === 0 && Date.now() < deadline && !response.destroyed) {
    await context.longPolls.nextAppend(deadline - Date.now());
    events = log.readStream(stream, page.from, "forwards", page.count);
  }
  if (events === "deleted") return sendStatus(response, 410, "Deleted");
  if (events === "not_found") return sendStatus(response, 404, "Not Found");
  const last = log.streamInfo(stream).last;
  const base = baseUrl(request);
  const self = streamUrl(base, stream);
  const endOfStream = page.from + page.count - 1 >= last;
  const previous = Math.min(page.from + page.count - 1, last) + 1;
  const next = page.from - 1;
  const links: AtomLink[] = [
    { uri: self, relation: "self" },
    { uri: `${self}/head/backward/${page.count}`, relation: "first" },
  ];
  if (next >= 0) {
    links.push({ uri: `${self}/0/forward/${page.count}`, relation: "last" });
    links.push({ uri: `${self}/${next}/backward/${page.count}`, relation: "next" });
  }
  if (!endOfStream || events.length > 0) {
    links.push({ uri: `${self}/${previous}/forward/${page.count}`, relation: "previous" });
  }
  if (!isMetastream(stream)) links.push({ uri: `${self}/metadata`, relation: "metadata" });
  const etag = positionETag(last, contentType);
  const feed = {
    ...feedHead(stream, self, atomTime(events[0]?.createdMicros ?? 0), endOfStream),
    links,
    entries: [...events].reverse().map((event) => atomEntry(toRecord(log, event, resolve), base, embed)),
  };
  sendJson(response, feed, contentType, last + 1 >= page.from + page.count ? IMMUTABLE : revalidate(etag));
};

const getEvent = (
  context: StreamReadContext,
  request: IncomingMessage,
  response: ServerResponse,
  stream: string,
  number: number | "head",
  resolve: boolean,
  embed: EmbedLevel,
): void => {
  const { log } = context;
  const contentType = negotiate(request, EVENT_TYPES);
  if (!contentType) return sendStatus(response, 406, "Not Acceptable");
  const found = log.readStream(stream, number === "head" ? "end" : number, "backwards", 1);
  if (found === "deleted") return sendStatus(response, 410, "Deleted");
  const stored = Array.isArray(found) ? found[0] : undefined;
  if (!stored || (number !== "head" && stored.revision !== number)) return sendStatus(response, 404, "Not Found");
  const record = toRecord(log, stored, resolve);
  // A link whose target is gone reads as not found, as on EventStoreDB.
  if (!record.event) return sendStatus(response, 404, "Not Found");
  // ES-Position is this server's addition (EventStoreDB's HTTP API never tells an event's log position): the browser shows it.
  const headers = {
    ...(number === "head" ? revalidate(positionETag(stored.revision, contentType)) : IMMUTABLE),
    "ES-Position": String(record.event.position),
  };
  const event = record.event;
  switch (contentType) {
    case ATOM_JSON:
      return sendJson(response, atomEntry(record, baseUrl(request), embed, true), contentType, headers);
    case EVENT_JSON:
      return sendJson(response, eventDocument(event), contentType, headers);
    case JSON_TYPE: {
      const document = eventDocument(event);
      return sendJson(response, document.data, contentType, headers);
    }
    default:
      response.writeHead(200, { "Content-Type": isJsonEvent(event) ? JSON_TYPE : OCTET_STREAM, ...headers });
      response.end(Buffer.from(event.data));
  }
};

/** `GET /streams/{stream}/metadata`: the stream's metadata document, `{}` when it has none. */
const getMetadata = (context: StreamReadContext, request: IncomingMessage, response: ServerResponse, stream: string): void => {
  const contentType = negotiate(request, [JSON_TYPE, ATOM_JSON, EVENT_JSON]);
  if (!contentType) return sendStatus(response, 406, "Not Acceptable");
  const found = context.log.readStream(metastreamOf(stream), "end", "backwards", 1);
  const event = Array.isArray(found) ? found[0] : undefined;
  const document = event ? eventDocument(event) : undefined;
  sendJson(response, document?.data ?? {}, JSON_TYPE, revalidate(positionETag(event?.revision ?? -1, JSON_TYPE)));
};
