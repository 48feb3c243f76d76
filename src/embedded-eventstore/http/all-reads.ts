import type { IncomingMessage, ServerResponse } from "node:http";
import type { EventLog } from "../log/event-log.js";
import { type EventFilter, createFilter, selectsFromAll } from "../log/event-filter.js";
import type { Direction, StoredEvent } from "../log/types.js";
import { AUTHOR, type AtomLink, atomEntry, parseEmbed } from "./atom-entry.js";
import { IMMUTABLE, baseUrl, longPollSeconds, positionETag, resolveLinkTos, revalidate, toRecord } from "./read-options.js";
import { ATOM_JSON, JSON_TYPE, atomTime, negotiate, sendJson, sendStatus } from "./respond.js";
import type { StreamReadContext } from "./stream-reads.js";

const DEFAULT_COUNT = 20;
const MAX_COUNT = 4096;
const SCAN_PAGE = 512;

/** A `$all` position as EventStoreDB writes it in URLs: commit and prepare, 16 hex digits each. */
export const formatAllPosition = (position: number): string => {
  const hex = position.toString(16).toUpperCase().padStart(16, "0");
  return `${hex}${hex}`;
};

const parseAllPosition = (text: string): number | undefined => {
  if (!/^[0-9a-fA-F]{32}$/.test(text)) return undefined;
  const commit = Number.parseInt(text.slice(0, 16), 16);
  return Number.isSafeInteger(commit) ? commit : undefined;
};

type AllPage = { readonly direction: Direction; readonly from: number | "head"; readonly count: number };

const parseAllPage = (rest: readonly string[]): AllPage | string => {
  const [position, third, fourth, ...extra] = rest;
  if (extra.length > 0) return "Not found";
  if (position === undefined) return { direction: "backwards", from: "head", count: DEFAULT_COUNT };
  const from = position === "head" ? "head" : parseAllPosition(position);
  if (from === undefined) return `Invalid position argument: ${position}`;
  const direction = fourth === undefined ? "backward" : third;
  const countText = fourth ?? third ?? String(DEFAULT_COUNT);
  const count = /^\d+$/.test(countText) ? Number(countText) : 0;
  if (count < 1 || count > MAX_COUNT) return `Invalid count argument: ${countText}`;
  if (direction === "backward") return { direction: "backwards", from, count };
  if (direction === "forward" && from !== "head") return { direction: "forwards", from, count };
  return "Not found";
};

/** `?context=streamid|eventtype&type=prefix|regex&data=a,b` of `/streams/$all/filtered`. */
const parseFilter = (query: URLSearchParams): EventFilter | string => {
  const context = query.get("context")?.toLowerCase();
  const type = query.get("type")?.toLowerCase();
  const data = query.get("data") ?? "";
  if (context !== "streamid" && context !== "eventtype") return "Invalid context argument: must be streamid or eventtype";
  if (type !== "prefix" && type !== "regex") return "Invalid type argument: must be prefix or regex";
  if (data === "") return "Invalid data argument: must not be empty";
  const filter = createFilter(context === "streamid" ? "stream" : "eventType", {
    regex: type === "regex" ? data : "",
    prefixes: type === "prefix" ? data.split(",").filter((prefix) => prefix !== "") : [],
  });
  return filter;
};

/** Records one request may scan for a filtered read, so that a rare match cannot hold the server's thread for long. */
const SCAN_LIMIT = 20_000;

interface AllRead {
  readonly events: StoredEvent[];
  /** Where the next read in the same direction continues (backwards: exclusive; forwards: inclusive). */
  readonly continueFrom: number;
  /** Nothing further in this direction. */
  readonly exhausted: boolean;
}

/** Up to `count` events of `$all` the filter selects, scanning on past those it does not (up to a limit). */
const readAllPage = (log: EventLog, page: AllPage, filter: EventFilter | undefined): AllRead => {
  const events: StoredEvent[] = [];
  const forwards = page.direction === "forwards";
  let from = page.from === "head" ? log.endPosition() : page.from;
  let scanned = 0;
  for (;;) {
    const batch = log.readAll(from, page.direction, SCAN_PAGE);
    for (const event of batch) {
      scanned += 1;
      from = forwards ? event.position + 1 : event.position;
      if (!selectsFromAll(filter, event)) continue;
      events.push(event);
      if (events.length === page.count) return { events, continueFrom: from, exhausted: false };
    }
    if (batch.length < SCAN_PAGE) return { events, continueFrom: from, exhausted: true };
    if (scanned >= SCAN_LIMIT) return { events, continueFrom: from, exhausted: false };
  }
};

/** `GET /streams/$all…` and `GET /streams/$all/filtered…`: the log in commit order, as an atom feed. */
export const getAll = async (
  context: StreamReadContext,
  request: IncomingMessage,
  response: ServerResponse,
  rest: readonly string[],
  query: URLSearchParams,
): Promise<void> => {
  const filtered = rest[0] === "filtered";
  const page = parseAllPage(filtered ? rest.slice(1) : rest);
  if (typeof page === "string") return sendStatus(response, page === "Not found" ? 404 : 400, page);
  let filter: EventFilter | undefined;
  if (filtered) {
    const parsed = parseFilter(query);
    if (typeof parsed === "string") return sendStatus(response, 400, parsed);
    filter = parsed;
  }
  const resolve = resolveLinkTos(request);
  if (resolve === "invalid") return sendStatus(response, 400, "ES-ResolveLinkTos header in wrong format.");
  const poll = longPollSeconds(request);
  if (poll === "invalid") return sendStatus(response, 400, "ES-LongPoll header in wrong format.");
  const contentType = negotiate(request, [ATOM_JSON, JSON_TYPE]);
  if (!contentType) return sendStatus(response, 406, "Not Acceptable");
  const { log } = context;
  let read = readAllPage(log, page, filter);
  const deadline = Date.now() + poll * 1000;
  while (page.direction === "forwards" && read.events.length === 0 && Date.now() < deadline && !response.destroyed) {
    await context.longPolls.nextAppend(deadline - Date.now());
    read = readAllPage(log, page, filter);
  }
  const { events } = read;
  const base = baseUrl(request);
  const self = `${base}/streams/%24all${filtered ? "/filtered" : ""}`;
  const suffix = filtered ? `?${query.toString()}` : "";
  const newest = page.direction === "forwards" ? events.at(-1) : events[0];
  const oldest = page.direction === "forwards" ? events[0] : events.at(-1);
  const endReached = read.exhausted;
  const links: AtomLink[] = [
    { uri: `${self}${suffix}`, relation: "self" },
    { uri: `${self}/head/backward/${page.count}${suffix}`, relation: "first" },
  ];
  const olderExist = page.direction === "backwards" ? !endReached : page.from !== 0 && page.from !== "head";
  if (olderExist) {
    links.push({ uri: `${self}/${formatAllPosition(0)}/forward/${page.count}${suffix}`, relation: "last" });
    const nextFrom = page.direction === "backwards" ? read.continueFrom : (oldest?.position ?? (page.from === "head" ? 0 : page.from));
    links.push({ uri: `${self}/${formatAllPosition(nextFrom)}/backward/${page.count}${suffix}`, relation: "next" });
  }
  const previousFrom =
    page.direction === "forwards" ? read.continueFrom : newest ? newest.position + 1 : page.from === "head" ? log.endPosition() : page.from;
  if (page.direction === "backwards" || !endReached || events.length > 0) {
    links.push({ uri: `${self}/${formatAllPosition(previousFrom)}/forward/${page.count}${suffix}`, relation: "previous" });
  }
  if (!filtered) links.push({ uri: `${self}/metadata`, relation: "metadata" });
  const ordered = page.direction === "forwards" ? [...events].reverse() : events;
  const headOfLog = page.from === "head" || (page.direction === "forwards" && endReached);
  const etag = positionETag(log.headPosition(), contentType);
  const feed = {
    title: "All events",
    id: self,
    updated: atomTime(newest?.createdMicros ?? 0),
    author: AUTHOR,
    headOfStream: headOfLog,
    links,
    entries: ordered.map((event) => atomEntry(toRecord(log, event, resolve), base, parseEmbed(query.get("embed")))),
  };
  sendJson(response, feed, contentType, headOfLog ? revalidate(etag) : IMMUTABLE);
};
