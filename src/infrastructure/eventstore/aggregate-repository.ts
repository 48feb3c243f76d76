import {
  type EventData,
  type EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  NotLeaderError,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
  jsonEvent,
} from "@eventstore/db-client";
import { AggregateDeletedError, AggregateUnreadableError, ServiceUnavailableError } from "../../core/errors.js";
import { type BatchDecision, type CommandOf, decideBatch } from "./batch-decision.js";
import { deterministicEventId } from "../../core/event-ids.js";
import { type EventMetadata, SCHEMA_VERSION } from "../../core/event-metadata.js";
import type { AggregateType, CommandMetadata, DomainEvent, HandleOptions, Handled, Loaded, Repository } from "../../core/repository.js";
import { streamOf } from "../../core/streams.js";
import { EventStoreCircuit } from "./event-store-circuit.js";
import { type Job, KeyedBatcher } from "./keyed-batcher.js";

/** The client calls the repository makes; narrowed so that tests can count them. */
export type StreamClient = Pick<EventStoreDBClient, "appendToStream" | "readStream">;

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
  /** Most commands of one stream decided together and written in one append. */
  readonly maxBatchCommands?: number;
  /** Bytes one append may carry; EventStoreDB's default `MaxAppendSize` is 1 MiB. */
  readonly maxAppendBytes?: number;
  /**
   * Tries of one append or read that a cluster node answers with NotLeader (a leader change while
   * the command runs) before the caller gets a 503.
   */
  readonly maxLeaderAttempts?: number;
}

interface CacheEntry<State> {
  state: State;
  revision: number;
}

/** A state to decide on; `verified` when it was read from the store by this very attempt. */
interface Base<State> extends Loaded<State> {
  readonly verified: boolean;
}

type Settle<T> = { resolve(value: T): void; fail(error: Error): void };

interface CommandJob<Command, Event, State> extends Job {
  readonly kind: "command";
  readonly decide: CommandOf<Command, State>;
  readonly metadata: CommandMetadata;
  readonly expectNew: boolean;
  readonly answer: Settle<Handled<Event, State>>;
}

interface LoadJob<State> extends Job {
  readonly kind: "load";
  /** Answered from the cache when it is at least at this revision; otherwise (and when absent) read. */
  readonly atLeastRevision: number | undefined;
  readonly answer: Settle<Loaded<State>>;
}

type StreamJob<Command, Event, State> = CommandJob<Command, Event, State> | LoadJob<State>;

/** Room for what the estimate of an event's size leaves out (the client's framing, UTF-16 types). */
const APPEND_SIZE_MARGIN = 16 * 1024;

/**
 * Loads aggregates from their streams and appends what their deciders decide, with the revision
 * the decision was made on as the expected revision. A concurrent writer (another process)
 * surfaces as WrongExpectedVersion: the repository catches up with the new events and decides
 * again. That is what prevents double booking.
 *
 * Rebuilt states stay in memory per stream. A command on a cached stream is decided on the cached
 * state and appended at the cached revision straight away, one round trip; only when that fails
 * is the stream read (its new events only). A refusal or a no-op decided on the cached state is
 * not trusted, as the cache may be stale and nothing was appended to prove otherwise: the stream
 * is read and the command decided again. An uncached stream is read first, unless the caller says
 * it is new.
 *
 * Commands on one stream run one batch at a time inside the process (they would conflict anyway,
 * and the cached state is evolved in place): the commands that queued up while a batch ran are
 * decided together, each on the state its predecessors' events lead to, and written in one append.
 */
export class AggregateRepository<Command, Event extends DomainEvent, State> implements Repository<Command, Event, State> {
  private readonly cache = new Map<string, CacheEntry<State>>();
  private readonly batcher: KeyedBatcher<StreamJob<Command, Event, State>>;
  private readonly cacheSize: number;
  private readonly maxAttempts: number;
  private readonly circuit: EventStoreCircuit;
  private readonly deadlineMs: number;
  private readonly maxAppendBytes: number;
  private readonly maxLeaderAttempts: number;
  private readonly copyState: (state: State) => State;

  constructor(
    private readonly client: StreamClient,
    private readonly type: AggregateType<Command, Event, State>,
    options: RepositoryOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.circuit = options.circuit ?? new EventStoreCircuit();
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.maxLeaderAttempts = Math.max(1, options.maxLeaderAttempts ?? 5);
    const maxAppendBytes = options.maxAppendBytes ?? 1_048_576;
    this.maxAppendBytes = maxAppendBytes - Math.min(APPEND_SIZE_MARGIN, maxAppendBytes / 16);
    const copy = type.copyState?.bind(type);
    this.copyState = copy ?? ((state) => structuredClone(state));
    this.batcher = new KeyedBatcher((streamId, jobs) => this.run(streamId, jobs), {
      maxBatch: options.maxBatchCommands ?? 100,
      compatible: (first, next) => first.kind === next.kind,
      wait: {
        waitTimeoutMs: options.lockWaitMs ?? 2000,
        onTimeout: () => new ServiceUnavailableError("too many commands are waiting for this resource; retry shortly", 1),
      },
    });
  }

  streamOf(id: string): string {
    return streamOf(this.type, id);
  }

  /**
   * The current state, consistent with every command already acknowledged (reads the new events).
   * With `atLeastRevision`, a cached state at that revision or later is answered without a read: for
   * a caller that only needs the state to include a given event (a consumer handling that event),
   * whose later events will reach it in turn.
   */
  load(id: string, options: { readonly atLeastRevision?: number } = {}): Promise<Loaded<State>> {
    return new Promise((resolve, reject) => {
      const answer = { resolve, fail: reject };
      this.batcher.submit(this.streamOf(id), { kind: "load", atLeastRevision: options.atLeastRevision, answer, fail: reject });
    });
  }

  /**
   * Decides on the current state and appends the result. `decide` may throw a domain error (the
   * refusal reaches the caller unchanged) and may be called more than once: again after a
   * concurrent write, or after a refusal decided on a cached state. The answer is the state after
   * this command's events (or the one it was decided on, when it changed nothing) and its revision.
   *
   * States handed out share what the decider evolves in place (a product's `allocations` map): an
   * answer's scalar fields are as of its revision, but such a map also shows later commands' changes.
   */
  handle(
    id: string,
    decide: (state: State, revision: number) => Command,
    metadata: CommandMetadata,
    options: HandleOptions = {},
  ): Promise<Handled<Event, State>> {
    return new Promise((resolve, reject) => {
      const answer = { resolve, fail: reject };
      this.batcher.submit(this.streamOf(id), {
        kind: "command",
        decide,
        metadata,
        expectNew: options.expectNew === true,
        answer,
        fail: reject,
      });
    });
  }

  private async run(streamId: string, jobs: readonly StreamJob<Command, Event, State>[]): Promise<void> {
    const loads = jobs.filter((job): job is LoadJob<State> => job.kind === "load");
    const cached = this.cached(streamId);
    const needsRead: LoadJob<State>[] = [];
    for (const job of loads) {
      if (cached && job.atLeastRevision !== undefined && cached.revision >= job.atLeastRevision) {
        job.answer.resolve({ state: cached.state, revision: cached.revision });
      } else {
        needsRead.push(job);
      }
    }
    if (needsRead.length > 0) {
      // Every load waiting here that needs the log is answered by one read.
      const entry = await this.catchUp(streamId);
      for (const job of needsRead) job.answer.resolve({ state: entry.state, revision: entry.revision });
    }
    let commands = jobs.filter((job): job is CommandJob<Command, Event, State> => job.kind === "command");
    while (commands.length > 0) commands = await this.runCommands(streamId, commands);
  }

  /** Decides and appends as many of `jobs` as one append takes; returns the jobs left for the next. */
  private async runCommands(
    streamId: string,
    jobs: readonly CommandJob<Command, Event, State>[],
  ): Promise<CommandJob<Command, Event, State>[]> {
    let base = this.cached(streamId) ?? (jobs[0]?.expectNew ? this.assumedNew() : await this.fresh(streamId));
    for (let attempt = 1; ;) {
      const batch = decideBatch(
        this.type.decider,
        base,
        jobs.map((job) => job.decide),
        this.copyState,
        { maxBytes: this.maxAppendBytes, weigh: (event, index) => this.weigh(event, jobs[index]?.metadata) },
      );
      const taken = jobs.slice(0, batch.taken);
      const rest = jobs.slice(batch.taken);
      if (batch.changes.length === 0) {
        if (!base.verified) {
          // Refused or nothing to do, but on a state that may be stale: only a fresh one can say so.
          base = await this.fresh(streamId);
          continue;
        }
        this.answer(taken, batch.settle().decisions);
        return rest;
      }
      try {
        await this.append(streamId, base.revision, batch, taken);
      } catch (error) {
        if (!(error instanceof WrongExpectedVersionError)) {
          // Whether the events were written is unknown: the next command reads the stream again.
          this.cache.delete(streamId);
          for (const job of taken) job.fail(error instanceof Error ? error : new Error(String(error)));
          return rest;
        }
        if (attempt >= this.maxAttempts) {
          const busy = new ServiceUnavailableError(`${streamId} is changing too fast; try again`, 1);
          for (const job of taken) job.fail(busy);
          return rest;
        }
        // A stale cache is expected and is caught up at once; a fresh read that lost the race means
        // live competition, and competing writers should spread out instead of colliding again.
        if (base.verified) await backoff(attempt);
        attempt += 1;
        base = await this.fresh(streamId);
        continue;
      }
      const settled = batch.settle();
      this.store(streamId, settled.state, settled.revision);
      this.answer(taken, settled.decisions);
      return rest;
    }
  }

  private async append(
    streamId: string,
    expected: number,
    batch: BatchDecision<Event, State>,
    jobs: readonly CommandJob<Command, Event, State>[],
  ): Promise<void> {
    const proposed: EventData[] = [];
    let revision = expected;
    for (const { commandIndex, events } of batch.changes) {
      const job = jobs[commandIndex];
      if (!job) throw new Error(`${streamId}: a decision without its command`);
      for (const event of events) {
        revision += 1;
        proposed.push(
          jsonEvent({
            id: deterministicEventId(job.metadata.causationId, streamId, revision),
            type: event.type,
            data: event.data as Record<string, unknown>,
            metadata: metadataOf(job.metadata),
          }),
        );
      }
    }
    const expectedRevision = expected < 0 ? NO_STREAM : BigInt(expected);
    const result = await this.onLeader(() =>
      this.circuit.run(() =>
        this.client.appendToStream(streamId, proposed, { expectedRevision, deadline: this.deadlineMs, requiresLeader: true }),
      ),
    ).catch((error: unknown) => {
      throw error instanceof StreamDeletedError ? new AggregateDeletedError(streamId) : error;
    });
    if (Number(result.nextExpectedRevision) !== revision) {
      // Not what an append at `expected` can answer; trust nothing cached about this stream.
      this.cache.delete(streamId);
      throw new Error(`${streamId}: appended at ${expected} + ${proposed.length} but the store answered ${result.nextExpectedRevision}`);
    }
  }

  private answer(jobs: readonly CommandJob<Command, Event, State>[], decisions: readonly BatchDecisionItem<Event, State>[]): void {
    for (const [index, job] of jobs.entries()) {
      const decision = decisions[index];
      if (!decision) continue;
      switch (decision.kind) {
        case "refused":
          job.answer.fail(decision.error);
          break;
        case "unchanged":
          job.answer.resolve({ state: decision.state, revision: decision.revision, events: [] });
          break;
        case "changed":
          job.answer.resolve({ state: decision.state, revision: decision.revision, events: decision.events });
          break;
      }
    }
  }

  /** The cached state, not re-read: it may be stale when another process wrote since. */
  private cached(streamId: string): Base<State> | undefined {
    const entry = this.cache.get(streamId);
    if (!entry) return undefined;
    this.touch(streamId, entry);
    return { state: entry.state, revision: entry.revision, verified: false };
  }

  private assumedNew(): Base<State> {
    return { state: this.type.decider.initialState, revision: -1, verified: false };
  }

  private async fresh(streamId: string): Promise<Base<State>> {
    const entry = await this.catchUp(streamId);
    return { state: entry.state, revision: entry.revision, verified: true };
  }

  private store(streamId: string, state: State, revision: number): void {
    const entry = this.cache.get(streamId);
    if (entry) {
      entry.state = state;
      entry.revision = revision;
      this.touch(streamId, entry);
    } else {
      this.touch(streamId, { state, revision });
    }
  }

  /** Least recently used first out: re-inserting moves the stream to the end. */
  private touch(streamId: string, entry: CacheEntry<State>): void {
    this.cache.delete(streamId);
    this.cache.set(streamId, entry);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (oldest.done) return;
      this.cache.delete(oldest.value);
    }
  }

  private async catchUp(streamId: string): Promise<CacheEntry<State>> {
    const entry = this.cache.get(streamId) ?? { state: this.type.decider.initialState, revision: -1 };
    this.touch(streamId, entry);
    try {
      // The whole read completes before anything is parsed: a client read abandoned half way
      // never finishes and would block the client's dispose(). (The client gives reads no deadline.)
      const recorded = await this.onLeader(() =>
        this.circuit.run(async () => {
          const read: { type: string; data: unknown; revision: bigint }[] = [];
          // Decisions are made on this state: a follower's copy may lag, so only the leader may answer.
          const options = { direction: FORWARDS, fromRevision: BigInt(entry.revision + 1), requiresLeader: true } as const;
          for await (const resolved of this.client.readStream(streamId, options)) {
            if (resolved.event) read.push({ type: resolved.event.type, data: resolved.event.data, revision: resolved.event.revision });
          }
          return read;
        }),
      );
      for (const { type, data, revision } of recorded) {
        entry.state = this.type.decider.evolve(entry.state, this.parse(streamId, Number(revision), type, data));
        entry.revision = Number(revision);
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) {
        // A half-applied catch-up must not stay cached.
        this.cache.delete(streamId);
        throw error instanceof StreamDeletedError ? new AggregateDeletedError(streamId) : error;
      }
    }
    return entry;
  }

  /**
   * Runs a call again when a cluster node answers NotLeader. The follower wrote nothing, and the
   * client has already switched to the leader the follower named, so the same call is simply made
   * again: an append keeps its event ids and expected revision, which EventStoreDB treats as
   * idempotent should the first one have been written after all. Leader elections take a moment,
   * hence the short growing pause; past the last try the command is answered 503, not 500.
   */
  private async onLeader<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof NotLeaderError)) throw error;
        if (attempt >= this.maxLeaderAttempts) {
          throw new ServiceUnavailableError("the event store cluster is changing its leader; try again", 1);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)));
      }
    }
  }

  /** An event read back that fails its schema makes the whole aggregate unreadable: say which and where. */
  private parse(streamId: string, revision: number, type: string, data: unknown): Event {
    try {
      return this.type.parseEvent(type, data);
    } catch (error) {
      throw new AggregateUnreadableError(streamId, revision, type, error instanceof Error ? error.message.slice(0, 500) : String(error));
    }
  }

  /** EventStoreDB counts data, metadata and the type (as UTF-16) against its append size limit. */
  private weigh(event: Event, metadata: CommandMetadata | undefined): number {
    const metadataBytes = metadata ? Buffer.byteLength(JSON.stringify(metadataOf(metadata))) : 0;
    return Buffer.byteLength(JSON.stringify(event.data)) + metadataBytes + 2 * event.type.length;
  }
}

type BatchDecisionItem<Event, State> = ReturnType<BatchDecision<Event, State>["settle"]>["decisions"][number];

const metadataOf = (metadata: CommandMetadata): EventMetadata => ({
  $correlationId: metadata.correlationId,
  $causationId: metadata.causationId,
  actor: metadata.actor,
  schemaVersion: SCHEMA_VERSION,
});

/** Exponential backoff with full jitter, so that competing writers spread out instead of colliding again. */
const backoff = (attempt: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(200, 5 * 2 ** attempt)));
