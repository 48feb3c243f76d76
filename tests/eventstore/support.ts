/**
 * Shared plumbing for the EventStoreDB contract suite.
 *
 * Every test file in tests/eventstore/ drives a server ONLY through the public
 * `@eventstore/db-client` API. The server is either
 *   - a real EventStoreDB (24.10) when EVENTSTORE_URL is set
 *     (e.g. `esdb://localhost:2113?tls=false`), or
 *   - the embedded, in-process server from src/embedded-eventstore, started
 *     in memory on a free port for each test file.
 *
 * Because the suite must be able to run repeatedly against one shared real
 * server, tests use unique stream / group / event-type names and never assume
 * that `$all` is empty.
 */
import { randomUUID } from "node:crypto";
import { ES_LISTENING, startEventStoreChild, type EventStoreChild, type ExitStatus } from "../support/child-service.js";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect } from "vitest";
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  WrongExpectedVersionError,
  binaryEvent,
  jsonEvent,
  type AllStreamResolvedEvent,
  type EventData,
  type Position,
  type ReadAllOptions,
  type ReadStreamOptions,
  type ResolvedEvent,
} from "@eventstore/db-client";
import type { EmbeddedEventStore, EmbeddedEventStoreOptions } from "../../src/embedded-eventstore/index.js";

/** Set when the suite runs against a real EventStoreDB instead of the embedded server. */
export const REAL_SERVER_URL: string | undefined = process.env.EVENTSTORE_URL || undefined;
export const isRealServer = REAL_SERVER_URL !== undefined;

/** Repository root (tests/eventstore/../..). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Default `MaxAppendSize` of EventStoreDB 24.10 (1 MiB; `ClusterVNodeOptions.Database.MaxAppendSize`). */
export const DEFAULT_MAX_APPEND_SIZE = 1_048_576;

/**
 * Per-call credentials. With `tls=false` the client drops them ("Credentials are unsupported in
 * insecure mode, and will be ignored"), but their mere presence makes `appendToStream` use the
 * plain `Streams/Append` RPC instead of `Streams/BatchAppend` (see the client's
 * dist/streams/appendToStream/index.js: `if (!baseOptions.credentials && supports(batchAppend))`).
 */
export const FORCE_APPEND_RPC = { credentials: { username: "admin", password: "changeit" } } as const;

/** Both append protocol paths, for `describe.each`. */
export const APPEND_PATHS = [
  { path: "BatchAppend (client default)", options: {} },
  { path: "Append (forced by per-call credentials)", options: FORCE_APPEND_RPC },
] as const;

export interface EventStoreContext {
  /** The client every test in the file shares. */
  readonly client: EventStoreDBClient;
  /** The connection string of the server under test. */
  readonly connectionString: string;
  /** The embedded server handle, or undefined when running against EVENTSTORE_URL. */
  readonly embedded: EmbeddedEventStore | undefined;
  /** A further, independent client (own channel); disposed in afterAll unless disposed earlier. */
  newClient(connectionString?: string): EventStoreDBClient;
}

/**
 * Call once at the top level of a test file. In `beforeAll` it connects to EVENTSTORE_URL when set,
 * otherwise starts an embedded in-memory server on a free port (with `embeddedOptions`, e.g. projections). `afterAll` disposes every client it
 * handed out and stops the embedded server. Returns a getter for the context.
 */
export function useEventStore(embeddedOptions: Partial<EmbeddedEventStoreOptions> = {}): () => EventStoreContext {
  let context: EventStoreContext | undefined;
  let embedded: EmbeddedEventStore | undefined;
  const clients: EventStoreDBClient[] = [];

  beforeAll(async () => {
    let connectionString: string;
    if (REAL_SERVER_URL) {
      connectionString = REAL_SERVER_URL;
    } else {
      const { startEmbeddedEventStore } = await import("../../src/embedded-eventstore/index.js");
      embedded = await startEmbeddedEventStore({ ...embeddedOptions, port: 0, inMemory: true });
      connectionString = embedded.connectionString;
    }
    const newClient = (cs: string = connectionString): EventStoreDBClient => {
      const c = EventStoreDBClient.connectionString(cs);
      clients.push(c);
      return c;
    };
    const client = newClient();
    const handle = embedded;
    context = {
      client,
      connectionString,
      embedded: handle,
      newClient,
    };
  }, 60_000);

  afterAll(async () => {
    // client.dispose() waits for every call it started to finish; a read abandoned with data still
    // buffered never finishes on the client side, so do not let that hold the server hostage
    await Promise.race([Promise.allSettled(clients.map((c) => c.dispose())), sleep(10_000)]);
    clients.length = 0;
    if (embedded) {
      const e = embedded;
      embedded = undefined;
      await e.stop();
    }
  }, 60_000);

  return () => {
    if (!context) throw new Error("useEventStore(): the server is not started yet (use it inside tests/hooks)");
    return context;
  };
}

// ---------------------------------------------------------------------------------------------
// names and events

const compactId = () => randomUUID().replace(/-/g, "");

/** A stream name that is unique for this run: `<prefix>-<uuid>`. */
export function uniqueStream(prefix = "contract"): string {
  return `${prefix}-${randomUUID()}`;
}

/** A unique persistent-subscription group name. */
export function uniqueGroup(prefix = "group"): string {
  return `${prefix}-${randomUUID()}`;
}

/** A unique PascalCase-ish event type (no `-`, never starts with `$`). */
export function uniqueType(prefix = "ContractEvent"): string {
  return `${prefix}${compactId()}`;
}

/** `n` JSON events `{ index }` of the given type, with fresh ids. */
export function testEvents(n: number, type = "TestEvent", extra: Record<string, unknown> = {}): EventData[] {
  return Array.from({ length: n }, (_, index) => jsonEvent({ type, data: { index, ...extra } }));
}

/** A fresh stream (`<prefix>-<uuid>`) that already holds `n` test events. */
export async function streamWith(client: EventStoreDBClient, prefix: string, n: number): Promise<string> {
  const stream = uniqueStream(prefix);
  await client.appendToStream(stream, testEvents(n));
  return stream;
}

export function oneEvent(type = "TestEvent", data: Record<string, unknown> = {}): EventData {
  return jsonEvent({ type, data });
}

export { binaryEvent, jsonEvent };

// ---------------------------------------------------------------------------------------------
// async helpers

/**
 * Collects items of an async iterable: all of them, or the first `n` (then stops iterating,
 * which ends/cancels a read). Bounded by `timeoutMs`; on timeout the error says how many items arrived.
 */
export async function collect<T>(
  iterable: AsyncIterable<T>,
  n?: number,
  { timeoutMs = 15_000 }: { timeoutMs?: number } = {},
): Promise<T[]> {
  const items: T[] = [];
  if (n !== undefined && n <= 0) return items;
  const iterator = iterable[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let finished = false;
  try {
    for (;;) {
      const remaining = deadline - Date.now();
      const next = await Promise.race([
        iterator.next(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(`collect(): timed out after ${timeoutMs} ms with ${items.length} item(s)${n === undefined ? "" : ` of ${n}`}`),
              ),
            Math.max(remaining, 0),
          );
        }),
      ]);
      clearTimeout(timer);
      if (next.done) {
        finished = true;
        break;
      }
      items.push(next.value);
      if (n !== undefined && items.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
    if (!finished) stopEarly(iterable, iterator);
  }
  return items;
}

/**
 * Leaves a read or subscription early without leaking it: cancels the call (reads: `cancel()`,
 * subscriptions: `unsubscribe()`) and drains whatever is still buffered, so that the call can finish
 * and `client.dispose()` does not wait for it forever.
 */
export function stopEarly<T>(iterable: AsyncIterable<T>, iterator: AsyncIterator<T> = iterable[Symbol.asyncIterator]()): void {
  const stoppable = iterable as { cancel?: () => Promise<void>; unsubscribe?: () => Promise<void> };
  void (stoppable.cancel?.() ?? stoppable.unsubscribe?.())?.catch(() => undefined);
  void (async () => {
    try {
      while (!(await iterator.next()).done) {
        /* drain */
      }
    } catch {
      /* cancelled */
    }
  })();
}

/**
 * Polls `predicate` until it returns a truthy value (returned) or `timeoutMs` passes (throws).
 * Never used to assert durations: the timeout is only a bound.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 50, what = "condition" }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.constructor.name}: ${lastError.message})` : "";
      throw new Error(`waitFor(): ${what} not reached within ${timeoutMs} ms${suffix}`);
    }
    await sleep(intervalMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with the rejection of `promise`; fails if it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

/** Asserts that `error` is the server's WrongExpectedVersionError for `stream`, naming both versions. */
export function expectWrongVersion(error: unknown, stream: string, expectedVersion: unknown, actualVersion: unknown): void {
  expect(error).toBeInstanceOf(WrongExpectedVersionError);
  const wev = error as WrongExpectedVersionError;
  expect(wev.streamName).toBe(stream);
  expect(wev.expectedVersion).toBe(expectedVersion);
  expect(wev.actualVersion).toBe(actualVersion);
}

/** Reads a whole stream (or a page of it) into an array. */
export function readStreamEvents(
  client: EventStoreDBClient,
  streamName: string,
  options: ReadStreamOptions = {},
): Promise<ResolvedEvent[]> {
  return collect(client.readStream(streamName, options));
}

/** Reads `$all` (bounded by maxCount) into an array. */
export function readAllEvents(client: EventStoreDBClient, options: ReadAllOptions): Promise<AllStreamResolvedEvent[]> {
  return collect(client.readAll(options));
}

/** The position of the last event currently in `$all`, or undefined when `$all` is empty. */
export async function lastPositionInAll(client: EventStoreDBClient): Promise<Position | undefined> {
  const [last] = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
  return last?.event?.position;
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** Tracks what a catch-up or persistent subscription emits, in arrival order. */
export interface SubscriptionLog<E> {
  events: E[];
  errors: Error[];
  /** arrival order of "event" / "caughtUp" / "checkpoint" / "confirmation" markers */
  markers: string[];
  caughtUp: boolean;
  confirmed: boolean;
  ended: boolean;
}

/** Attaches listeners (data, error, caughtUp, confirmation, end) and records everything. */
export function record<E>(subscription: NodeJS.EventEmitter, onEvent?: (event: E) => void | Promise<void>): SubscriptionLog<E> {
  const log: SubscriptionLog<E> = { events: [], errors: [], markers: [], caughtUp: false, confirmed: false, ended: false };
  subscription.on("data", (event: E) => {
    log.events.push(event);
    log.markers.push("event");
    if (onEvent) {
      Promise.resolve(onEvent(event)).catch((error: unknown) => log.errors.push(error as Error));
    }
  });
  subscription.on("error", (error: Error) => {
    log.errors.push(error);
  });
  subscription.on("caughtUp", () => {
    log.caughtUp = true;
    log.markers.push("caughtUp");
  });
  subscription.on("confirmation", () => {
    log.confirmed = true;
    log.markers.push("confirmation");
  });
  subscription.on("end", () => {
    log.ended = true;
  });
  subscription.on("close", () => {
    log.ended = true;
  });
  return log;
}

// ---------------------------------------------------------------------------------------------
// the standalone command (`npm run eventstore -- --port <p> --data <dir>` / `--memory`)

export const LISTENING_LINE = ES_LISTENING;

export interface CliServer extends Omit<EventStoreChild, "stop"> {
  /** every stdout line seen so far (the last few hundred) */
  readonly stdoutLines: string[];
  /** sends `signal` (default SIGTERM) and waits for the exit (SIGKILL after `graceMs`) */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

/**
 * Spawns `node --import tsx src/embedded-eventstore/cli.ts <args>` (the same program as
 * `npm run eventstore`, but as a direct child so that signals reach the server itself) and waits
 * for its `listening on esdb://127.0.0.1:<port>?tls=false` line. Pass `--port 0` for a free port.
 */
export async function spawnEventStoreCli(args: string[], { startTimeoutMs = 45_000 } = {}): Promise<CliServer> {
  const server = await startEventStoreChild({ args, timeoutMs: startTimeoutMs });
  return { ...server, stdoutLines: server.lines, stop: (signal = "SIGTERM", graceMs = 10_000) => server.stop(graceMs, signal) };
}
