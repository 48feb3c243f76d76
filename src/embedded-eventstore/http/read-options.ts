import type { IncomingMessage } from "node:http";
import type { EventLog } from "../log/event-log.js";
import type { StoredEvent } from "../log/types.js";
import type { ReadRecord } from "./atom-entry.js";

/** The base of every URL a response links to: the host the client asked for, as EventStoreDB does. */
export const baseUrl = (request: IncomingMessage): string => `http://${request.headers.host ?? "localhost"}`;

const header = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** `ES-ResolveLinkTos`: on unless told otherwise; anything but true/false is a 400. */
export const resolveLinkTos = (request: IncomingMessage): boolean | "invalid" => {
  const value = header(request, "es-resolvelinktos");
  if (value === undefined) return true;
  if (value.toLowerCase() === "true") return true;
  if (value.toLowerCase() === "false") return false;
  return "invalid";
};

/** `ES-LongPoll`: seconds to wait for new events at the head of a forward read; 0 when absent. */
export const longPollSeconds = (request: IncomingMessage): number | "invalid" => {
  const value = header(request, "es-longpoll");
  if (value === undefined) return 0;
  const seconds = Number(value);
  return Number.isInteger(seconds) && seconds >= 0 ? Math.min(seconds, 3600) : "invalid";
};

export const toRecord = (log: EventLog, stored: StoredEvent, resolve: boolean): ReadRecord => {
  if (!resolve || stored.type !== "$>") return { event: stored, link: undefined };
  return { event: log.resolveLink(stored), link: stored };
};

/** EventStoreDB's ETag: the last event number and a hash of the media type, so each representation caches apart. */
export const positionETag = (position: number, contentType: string): string => {
  let hash = 0;
  for (const char of contentType) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
  return `"${position};${hash}"`;
};

export const IMMUTABLE = { "Cache-Control": "max-age=31536000, public", Vary: "Accept" } as const;

export const revalidate = (etag: string): Record<string, string> => ({
  "Cache-Control": "max-age=0, no-cache, must-revalidate",
  Vary: "Accept",
  ETag: etag,
});
