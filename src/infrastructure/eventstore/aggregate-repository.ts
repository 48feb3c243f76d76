import {
  type EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
} from "@eventstore/db-client";
import type { Decider } from "../../domain/decider.js";
import { ServiceUnavailableError } from "../../application/errors.js";
import { deterministicEventId } from "./event-ids.js";
import { type EventMetadata, SCHEMA_VERSION } from "./event-metadata.js";
import { EventStoreCircuit } from "./event-store-circuit.js";
import { KeyedMutex } from "./keyed-mutex.js";

export interface DomainEvent {
  readonly type: string;
  readonly data: unknown;
}

export interface AggregateType<Command, Event extends DomainEvent, State> {
  /** Stream category: streams are named `<category>-<id>`. */
  readonly category: string;
  readonly decider: Decider<Command, Event, State>;
  /** Validates an event read back from the store. */
  parseEvent(type: string, data: unknown): Event;
}

/** An aggregate's state as of a stream revision (-1: the stream does not exist). */
export interface Loaded<State> {
  readonly state: State;
  readonly revision: number;
}

export interface Handled<Event, State> extends Loaded<State> {
  /** The events this call appended; empty when the command changed nothing. */
  readonly events: readonly Event[];
}

export interface CommandMetadata {
  readonly correlationId: string;
  /** What caused the command (a request id or an event id); event ids are derived from it. */
  readonly causationId: string;
  readonly actor: EventMetadata["actor"];
}

export interface RepositoryOptions {
  /** Streams whose rebuilt state is kept in memory (least recently used are dropped). */
  readonly cacheSize?: number;
  /** Decide-and-append attempts before giving up under contention. */
  readonly maxAttempts?: number;
  /** Fails calls fast while EventStoreDB is unreachable; shared by every repository of a process. */
  readonly circuit?: EventStoreCircuit;
  /** gRPC deadline of each append (the client gives reads none). */
  readonly deadlineMs?: number;
  /**
   * How long a command may wait for the commands queued before it on the same stream; past it the
   * caller gets a 503 rather than a slow answer (a hot stream under overload).
   */
  readonly lockWaitMs?: number;
}

interface CacheEntry<State> {
  state: State;
  revision: number;
}

/**
 * Loads aggregates from their streams and appends what their deciders decide, with the revision
 * that was read as the expected revision. Concurrent writers (other processes) surface as
 * WrongExpectedVersion: the repository catches up with the new events and decides again.
 *
 * Rebuilt states stay in memory per stream and only new events are read on the next command, so
 * a command on a stream with 100,000 events costs the same as on a new one. Commands on one
 * stream are serialised inside the process: they would conflict anyway, and the cached state is
 * evolved in place.
 */
export class AggregateRepository<Command, Event extends DomainEvent, State> {
  private readonly cache = new Map<string, CacheEntry<State>>();
  private readonly mutex = new KeyedMutex();
  private readonly cacheSize: number;
  private readonly maxAttempts: number;
  private readonly circuit: EventStoreCircuit;
  private readonly deadlineMs: number;
  private readonly lockWait;

  constructor(
    private readonly client: EventStoreDBClient,
    private readonly type: AggregateType<Command, Event, State>,
    options: RepositoryOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.circuit = options.circuit ?? new EventStoreCircuit();
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.lockWait = {
      waitTimeoutMs: options.lockWaitMs ?? 2000,
      onTimeout: () => new ServiceUnavailableError("too many commands are waiting for this resource; retry shortly", 1),
    };
  }

  streamOf(id: string): string {
    return `${this.type.category}-${id}`;
  }

  /** The current state, consistent with every command already acknowledged. */
  async load(id: string): Promise<Loaded<State>> {
    const streamId = this.streamOf(id);
    return this.mutex.run(
      streamId,
      async () => {
        const entry = await this.catchUp(streamId);
        return { state: entry.state, revision: entry.revision };
      },
      this.lockWait,
    );
  }

  /**
   * Decides on the current state and appends the result. `decide` may throw a domain error (the
   * refusal reaches the caller unchanged) and is called again after a concurrent write.
   */
  async handle(
    id: string,
    decide: (state: State, revision: number) => Command,
    metadata: CommandMetadata,
  ): Promise<Handled<Event, State>> {
    const streamId = this.streamOf(id);
    return this.mutex.run(streamId, async () => {
      for (let attempt = 1; ; attempt += 1) {
        const entry = await this.catchUp(streamId);
        const events = this.type.decider.decide(decide(entry.state, entry.revision), entry.state);
        if (events.length === 0) return { state: entry.state, revision: entry.revision, events };
        try {
          const proposed = events.map((event, index) =>
            jsonEvent({
              id: deterministicEventId(metadata.causationId, streamId, entry.revision + 1 + index),
              type: event.type,
              data: event.data as Record<string, unknown>,
              metadata: {
                $correlationId: metadata.correlationId,
                $causationId: metadata.causationId,
                actor: metadata.actor,
                schemaVersion: SCHEMA_VERSION,
              } satisfies EventMetadata,
            }),
          );
          const expectedRevision = entry.revision < 0 ? NO_STREAM : BigInt(entry.revision);
          const result = await this.circuit.run(() =>
            this.client.appendToStream(streamId, proposed, { expectedRevision, deadline: this.deadlineMs }),
          );
          for (const event of events) entry.state = this.type.decider.evolve(entry.state, event);
          entry.revision = Number(result.nextExpectedRevision);
          return { state: entry.state, revision: entry.revision, events };
        } catch (error) {
          if (!(error instanceof WrongExpectedVersionError)) throw error;
          if (attempt >= this.maxAttempts) {
            throw new ServiceUnavailableError(`${streamId} is changing too fast; try again`, 1);
          }
          await backoff(attempt);
        }
      }
    }, this.lockWait);
  }

  private async catchUp(streamId: string): Promise<CacheEntry<State>> {
    let entry = this.cache.get(streamId);
    if (entry) {
      // Least recently used first out: re-inserting moves the stream to the end.
      this.cache.delete(streamId);
    } else {
      entry = { state: this.type.decider.initialState, revision: -1 };
    }
    this.cache.set(streamId, entry);
    this.evictBeyondCapacity();
    const cached = entry;
    try {
      // The whole read completes before anything is parsed: a client read abandoned half way
      // never finishes and would block the client's dispose(). (The client gives reads no deadline.)
      const recorded = await this.circuit.run(async () => {
        const read: { type: string; data: unknown; revision: bigint }[] = [];
        for await (const resolved of this.client.readStream(streamId, { direction: FORWARDS, fromRevision: BigInt(cached.revision + 1) })) {
          if (resolved.event) read.push({ type: resolved.event.type, data: resolved.event.data, revision: resolved.event.revision });
        }
        return read;
      });
      for (const { type, data, revision } of recorded) {
        cached.state = this.type.decider.evolve(cached.state, this.type.parseEvent(type, data));
        cached.revision = Number(revision);
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) {
        // A half-applied catch-up must not stay cached.
        this.cache.delete(streamId);
        throw error;
      }
    }
    return entry;
  }

  private evictBeyondCapacity(): void {
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (oldest.done) return;
      this.cache.delete(oldest.value);
    }
  }
}

/** Exponential backoff with full jitter, so that competing writers spread out instead of colliding again. */
const backoff = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** attempt)));
