/**
 * Plumbing for the HTTP API contract tests. They talk to the server's HTTP port with `fetch` and
 * seed or check through `@eventstore/db-client`, against
 *   - a real EventStoreDB when EVENTSTORE_HTTP_URL is set (e.g. `http://localhost:2113`, with
 *     EVENTSTORE_URL for the gRPC client; without it, `esdb://<same host:port>?tls=false`), or
 *   - the embedded server, whose HTTP API shares its gRPC port.
 */
import { afterAll, beforeAll } from "vitest";
import { EventStoreDBClient } from "@eventstore/db-client";
import type { EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";

export const REAL_HTTP_URL: string | undefined = process.env.EVENTSTORE_HTTP_URL || undefined;

export const ATOM_JSON = "application/vnd.eventstore.atom+json";
export const EVENT_JSON = "application/vnd.eventstore.event+json";
export const EVENTS_JSON = "application/vnd.eventstore.events+json";

export interface HttpContext {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  readonly client: EventStoreDBClient;
  readonly embedded: EmbeddedEventStore | undefined;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body: string, headers: Record<string, string>): Promise<Response>;
  /** GET with `Accept: application/vnd.eventstore.atom+json`, expecting 200, parsed. */
  feed<T = AtomFeed>(path: string, headers?: Record<string, string>): Promise<T>;
}

export interface AtomLink {
  readonly uri: string;
  readonly relation: string;
}

export interface AtomEntry {
  readonly title: string;
  readonly id: string;
  readonly updated: string;
  readonly summary: string;
  readonly links: AtomLink[];
  readonly eventId?: string;
  readonly eventType?: string;
  readonly eventNumber?: number;
  readonly data?: string;
  readonly metaData?: string;
  readonly streamId?: string;
  readonly isJson?: boolean;
  readonly isMetaData?: boolean;
  readonly positionEventNumber?: number;
  readonly positionStreamId?: string;
  readonly content?: { eventType: string; eventNumber: number; data: unknown; metadata: unknown; eventStreamId: string; eventId: string };
}

export interface AtomFeed {
  readonly title: string;
  readonly id: string;
  readonly updated: string;
  readonly streamId?: string;
  readonly headOfStream: boolean;
  readonly selfUrl?: string;
  readonly links: AtomLink[];
  readonly entries: AtomEntry[];
}

/** The path (with query) of a feed link, or undefined when the feed has no such relation. */
export const linkPath = (feed: { links: AtomLink[] }, relation: string): string | undefined => {
  const link = feed.links.find((each) => each.relation === relation);
  if (!link) return undefined;
  const url = new URL(link.uri);
  return `${url.pathname}${url.search}`;
};

export const relations = (feed: { links: AtomLink[] }): string[] => feed.links.map((link) => link.relation);

export function useHttpEventStore(): () => HttpContext {
  let context: HttpContext | undefined;
  let embedded: EmbeddedEventStore | undefined;
  let client: EventStoreDBClient | undefined;

  beforeAll(async () => {
    let url: string;
    let connectionString: string;
    if (REAL_HTTP_URL) {
      url = REAL_HTTP_URL.replace(/\/$/, "");
      connectionString = process.env.EVENTSTORE_URL || `esdb://${new URL(url).host}?tls=false`;
    } else {
      const { startEmbeddedEventStore } = await import("../../src/embedded-eventstore/index.js");
      embedded = await startEmbeddedEventStore({ port: 0, inMemory: true });
      url = `http://127.0.0.1:${embedded.port}`;
      connectionString = embedded.connectionString;
    }
    client = EventStoreDBClient.connectionString(connectionString);
    const get = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(`${url}${path}`, { headers, redirect: "manual", signal: AbortSignal.timeout(20_000) });
    const post = (path: string, body: string, headers: Record<string, string>): Promise<Response> =>
      fetch(`${url}${path}`, { method: "POST", body, headers, redirect: "manual", signal: AbortSignal.timeout(20_000) });
    const feed = async <T>(path: string, headers: Record<string, string> = {}): Promise<T> => {
      const response = await get(path, { Accept: ATOM_JSON, ...headers });
      if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${response.statusText}`);
      return (await response.json()) as T;
    };
    context = { url, client, embedded, get, post, feed };
  }, 60_000);

  afterAll(async () => {
    await client?.dispose();
    await embedded?.stop();
  }, 60_000);

  return () => {
    if (!context) throw new Error("useHttpEventStore(): not started yet");
    return context;
  };
}
