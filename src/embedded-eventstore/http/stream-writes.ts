import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { EventLog } from "../log/event-log.js";
import type { GroupCommit } from "../log/group-commit.js";
import type { ExpectedRevision, ProposedEvent } from "../log/types.js";
import { baseUrl } from "./read-options.js";
import { EVENTS_JSON, JSON_TYPE, OCTET_STREAM, readBody, sendStatus } from "./respond.js";
import { streamUrl } from "./atom-entry.js";

export interface StreamWriteContext {
  /** The same group commit the gRPC appends use, so expected versions and idempotency are one set of rules. */
  readonly commits: GroupCommit;
  /** Deletes go to the log directly, as the gRPC `Delete` and `Tombstone` do. */
  readonly log: EventLog;
  readonly maxAppendSize: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const header = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** `ES-ExpectedVersion`: -2 any (the default), -1 no stream, -4 stream exists, or a revision. */
const expectedVersion = (request: IncomingMessage): ExpectedRevision | undefined => {
  const value = header(request, "es-expectedversion");
  if (value === undefined) return { kind: "any" };
  if (!/^-?\d+$/.test(value.trim())) return undefined;
  const number = Number(value);
  if (number === -2) return { kind: "any" };
  if (number === -1) return { kind: "no_stream" };
  if (number === -4) return { kind: "stream_exists" };
  return Number.isSafeInteger(number) && number >= 0 ? { kind: "revision", revision: number } : undefined;
};

const mediaType = (request: IncomingMessage): string => (header(request, "content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";

const jsonBytes = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value), "utf8");

/** One event of an `application/vnd.eventstore.events+json` array, as the server reads it, or what is wrong with it. */
const fromEventsJson = (item: unknown, index: number): ProposedEvent | string => {
  if (item === null || typeof item !== "object" || Array.isArray(item)) return `Event ${index} is not an object`;
  const { eventId, eventType, data, metadata } = item as Record<string, unknown>;
  if (typeof eventId !== "string" || !UUID.test(eventId)) return `Event ${index}: eventId must be a UUID`;
  if (typeof eventType !== "string" || eventType === "") return `Event ${index}: eventType must be a non-empty string`;
  // An object or array is JSON; a string is taken as raw bytes, as EventStoreDB does.
  const isJson = data !== undefined && typeof data !== "string";
  return {
    id: eventId.toLowerCase(),
    type: eventType,
    contentType: isJson ? JSON_TYPE : OCTET_STREAM,
    data: data === undefined ? new Uint8Array(0) : typeof data === "string" ? Buffer.from(data, "utf8") : jsonBytes(data),
    metadata:
      metadata === undefined || metadata === null
        ? new Uint8Array(0)
        : typeof metadata === "string"
          ? Buffer.from(metadata, "utf8")
          : jsonBytes(metadata),
  };
};

type Parsed = { readonly events: ProposedEvent[] } | { readonly redirect: true } | { readonly error: string; readonly status?: number };

const parseEvents = (request: IncomingMessage, body: Buffer, idFromUrl: string | undefined): Parsed => {
  const type = mediaType(request);
  if (type === EVENTS_JSON) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      return { error: "Write request body invalid." };
    }
    if (!Array.isArray(parsed) || parsed.length === 0) return { error: "Write request body invalid." };
    const events: ProposedEvent[] = [];
    for (const [index, item] of parsed.entries()) {
      const event = fromEventsJson(item, index);
      if (typeof event === "string") return { error: event };
      events.push(event);
    }
    return { events };
  }
  if (type === JSON_TYPE || type === OCTET_STREAM) {
    const eventType = header(request, "es-eventtype");
    if (eventType === undefined || eventType === "") {
      return { error: "Must include an event type with the request either in body or as ES-EventType header." };
    }
    const eventId = idFromUrl ?? header(request, "es-eventid");
    if (eventId === undefined) return { redirect: true };
    if (!UUID.test(eventId)) return { error: "ES-EventId header in wrong format." };
    if (type === JSON_TYPE) {
      try {
        JSON.parse(body.toString("utf8"));
      } catch {
        return { error: "Write request body invalid." };
      }
    }
    return { events: [{ id: eventId.toLowerCase(), type: eventType, contentType: type, data: body, metadata: new Uint8Array(0) }] };
  }
  return { error: `Content-Type '${type}' is not supported.`, status: 415 };
};

/**
 * `POST /streams/{stream}` (and `/streams/{stream}/incoming/{eventId}`): appends through the group
 * commit, answering as EventStoreDB does: 201 with the first event's Location, 400 "Wrong expected
 * EventNumber" with `ES-CurrentVersion`, 410 for a deleted stream.
 */
export const postToStream = async (
  context: StreamWriteContext,
  request: IncomingMessage,
  response: ServerResponse,
  stream: string,
  idFromUrl: string | undefined,
): Promise<void> => {
  if (stream === "") return sendStatus(response, 400, "Invalid request. Stream must be non-empty string");
  const expected = expectedVersion(request);
  if (!expected) return sendStatus(response, 400, "ES-ExpectedVersion header in wrong format.");
  if (idFromUrl !== undefined && !UUID.test(idFromUrl)) return sendStatus(response, 400, "Invalid request. Unable to parse guid");
  const body = await readBody(request, context.maxAppendSize * 4);
  if (body === "too_large") return sendStatus(response, 413, "Request Entity Too Large");
  const parsed = parseEvents(request, body, idFromUrl);
  if ("redirect" in parsed) {
    // Without an event id the server names one and sends the client there, so that a retry is idempotent.
    const location = `${streamUrl(baseUrl(request), stream)}/incoming/${randomUUID()}`;
    return sendStatus(response, 307, "Forwarding to idempotent URI", { Location: location });
  }
  if ("error" in parsed) return sendStatus(response, parsed.status ?? 400, parsed.error);
  const size = parsed.events.reduce((total, event) => total + event.data.length + event.metadata.length + 2 * event.type.length, 0);
  if (size > context.maxAppendSize) return sendStatus(response, 400, "Events too large");
  let outcome;
  try {
    outcome = await context.commits.append({ streamId: stream, expected, events: parsed.events });
  } catch {
    return sendStatus(response, 500, "Internal Server Error");
  }
  switch (outcome.kind) {
    case "success": {
      const first = outcome.revision - parsed.events.length + 1;
      return sendStatus(response, 201, "Created", { Location: `${streamUrl(baseUrl(request), stream)}/${Math.max(first, 0)}` });
    }
    case "wrong_expected_version": {
      const current = String(outcome.current === "no_stream" ? -1 : outcome.current);
      return sendStatus(response, 400, "Wrong expected EventNumber", { "ES-CurrentVersion": current });
    }
    case "stream_deleted":
      return sendStatus(response, 410, "Stream deleted");
  }
};

/**
 * `DELETE /streams/{stream}`: a soft delete, or a tombstone with `ES-HardDelete: true`; 204 "Stream
 * deleted", 400 "Wrong expected EventNumber" with `ES-CurrentVersion`, 410 when already tombstoned.
 */
export const deleteStream = (context: StreamWriteContext, request: IncomingMessage, response: ServerResponse, stream: string): void => {
  if (stream === "") return sendStatus(response, 400, `Invalid stream name '${stream}'`);
  const expected = expectedVersion(request);
  if (!expected) return sendStatus(response, 400, "ES-ExpectedVersion header in wrong format.");
  const hard = header(request, "es-harddelete");
  if (hard !== undefined && hard.toLowerCase() !== "true" && hard.toLowerCase() !== "false") {
    return sendStatus(response, 400, "ES-HardDelete header in wrong format.");
  }
  const outcome = hard?.toLowerCase() === "true" ? context.log.tombstone(stream, expected) : context.log.delete(stream, expected);
  switch (outcome.kind) {
    case "success":
      response.writeHead(204, "Stream deleted");
      response.end();
      return;
    case "wrong_expected_version": {
      const current = String(outcome.current === "no_stream" ? -1 : outcome.current);
      return sendStatus(response, 400, "Wrong expected EventNumber", { "ES-CurrentVersion": current });
    }
    case "stream_deleted":
      return sendStatus(response, 410, "Stream deleted");
  }
};
