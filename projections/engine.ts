import type { Redis } from "ioredis";
import { TransientError } from "../src/core/errors.js";
import { INITIAL_VERSION, type ProjectionKeys, type ProjectionName } from "./keys.js";

/** What a projection needs of an event: a `ConsumedEvent`, or one read back from the log. */
export interface SourceEvent {
  readonly eventId: string;
  readonly streamId: string;
  readonly revision: number;
  readonly type: string;
  readonly data: unknown;
}

/** One membership of a document in a sorted-set index (`idx:<index>`). */
export interface IndexEntry {
  readonly index: string;
  readonly score: number;
  readonly member: string;
}

/**
 * A projection: which document an event's stream feeds, how an event changes that document, and
 * which indexes the document belongs to. `evolve` must be a pure function of the document and the
 * event; the engine guarantees it sees each stream's events once and in revision order.
 */
export interface ProjectionDefinition<D> {
  readonly name: ProjectionName;
  readonly streamPrefixes: readonly string[];
  /** The id of the document a stream feeds, or undefined for a stream this projection ignores. */
  documentOf(streamId: string): string | undefined;
  initial(docId: string): D;
  evolve(doc: D, event: SourceEvent): D;
  indexes(docId: string, doc: D): readonly IndexEntry[];
}

/** A document as stored: `c` holds, per source stream, the last revision applied. */
export interface StoredDocument<D> {
  readonly c: Readonly<Record<string, number>>;
  readonly d: D;
}

/** Reads events of one stream from the log, to fill a gap (an event arrived before its predecessors). */
export interface StreamReader {
  read(streamId: string, fromRevision: number, count: number): AsyncIterable<SourceEvent>;
}

export const parseStored = <D>(raw: string): StoredDocument<D> => JSON.parse(raw) as StoredDocument<D>;

const serialize = <D>(cursors: Record<string, number>, d: D): string => {
  const c = Object.fromEntries(Object.entries(cursors).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify({ c, d });
};

/**
 * Check-and-apply in one step, so competing consumers in any number of processes never lose an
 * update: the document is written only if it is still what the caller read (else 0: read again),
 * and only while the version is live or being built (else -1: a rebuild retired it).
 * KEYS: live pointer, building pointer, document. ARGV: version, expected document ('' = absent),
 * new document, index operations as JSON [[command, key, …args]].
 */
const APPLY_SCRIPT = `
local version = ARGV[1]
if redis.call('GET', KEYS[1]) ~= version and redis.call('GET', KEYS[2]) ~= version then return -1 end
local current = redis.call('GET', KEYS[3])
if current == false then current = '' end
if current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[3], ARGV[3])
for _, op in ipairs(cjson.decode(ARGV[4])) do redis.call(unpack(op)) end
return 1
`;

const APPLY_COMMAND = "projectionApply";

type ApplyCommand = (live: string, building: string, doc: string, version: string, expected: string, next: string, ops: string) => unknown;

const withApplyCommand = <T extends object>(target: T): T & Record<typeof APPLY_COMMAND, ApplyCommand> =>
  target as T & Record<typeof APPLY_COMMAND, ApplyCommand>;

const defined = new WeakSet<Redis>();

/** Registers the script on a client once (ioredis then uses EVALSHA, falling back to EVAL). */
export const defineProjectionCommands = (redis: Redis): void => {
  if (defined.has(redis)) return;
  redis.defineCommand(APPLY_COMMAND, { numberOfKeys: 3, lua: APPLY_SCRIPT });
  defined.add(redis);
};

export interface ApplyResult {
  /** Documents written. */
  readonly written: number;
  /** True when the version was no longer live or being built: nothing was written to it. */
  readonly retired: boolean;
}

export interface WriterOptions {
  /** Reads a gap's events from the log; without it a gap is a `TransientError` (retry later). */
  readonly reader?: StreamReader;
  /** Check-and-apply attempts per document before giving up with a `TransientError`. */
  readonly maxAttempts?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const indexMap = (entries: readonly IndexEntry[]): Map<string, IndexEntry> =>
  new Map(entries.map((entry) => [`${entry.index}\n${entry.member}`, entry]));

/**
 * Applies events to one projection version in Redis, idempotently and in order per stream:
 *
 * - each document stores, per source stream, the last revision it applied;
 * - an event at or below it changes nothing (a redelivery, or an older event after a newer one);
 * - an event past the next expected revision first gets the missing events read from the log
 *   (`reader`), so a document never skips an event and never waits on a competing consumer;
 * - the new document and its index changes are written by one script that checks the document is
 *   unchanged since it was read (optimistic concurrency across processes) and the version is
 *   still live or being built.
 *
 * Several events (a rebuild's batch) are grouped per document: one read and one write each.
 */
export class ProjectionWriter<D> {
  private readonly maxAttempts: number;
  /** Check-and-apply attempts that found the document changed by a competing writer (and were redone). */
  conflicts = 0;

  constructor(
    private readonly redis: Redis,
    readonly definition: ProjectionDefinition<D>,
    readonly keys: ProjectionKeys,
    private readonly options: WriterOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 25;
    defineProjectionCommands(redis);
  }

  async apply(version: string, events: readonly SourceEvent[]): Promise<ApplyResult> {
    const byDocument = new Map<string, SourceEvent[]>();
    for (const event of events) {
      const docId = this.definition.documentOf(event.streamId);
      if (docId === undefined) continue;
      const list = byDocument.get(docId);
      if (list) list.push(event);
      else byDocument.set(docId, [event]);
    }
    let pending = [...byDocument.keys()];
    let written = 0;
    for (let attempt = 1; pending.length > 0; attempt += 1) {
      if (attempt > this.maxAttempts) {
        throw new TransientError(`${this.definition.name}: ${pending.length} document(s) kept changing under concurrent writers`);
      }
      if (attempt > 1) await sleep(Math.random() * Math.min(100, 2 ** attempt));
      const raws = await this.redis.mget(pending.map((docId) => this.keys.doc(version, docId)));
      const writes: Array<{ docId: string; expected: string; next: string; ops: string }> = [];
      for (const [i, docId] of pending.entries()) {
        const raw = raws[i] ?? null;
        const change = await this.fold(version, docId, raw, byDocument.get(docId) ?? []);
        if (change) writes.push({ docId, expected: raw ?? "", ...change });
      }
      if (writes.length === 0) break;
      const pipeline = withApplyCommand(this.redis.pipeline());
      for (const write of writes) {
        pipeline[APPLY_COMMAND](
          this.keys.live,
          this.keys.building,
          this.keys.doc(version, write.docId),
          version,
          write.expected,
          write.next,
          write.ops,
        );
      }
      const results = (await pipeline.exec()) ?? [];
      const retry: string[] = [];
      for (const [i, write] of writes.entries()) {
        const [error, outcome] = results[i] ?? [new Error("no reply"), undefined];
        if (error) throw error;
        if (outcome === -1) return { written, retired: true };
        if (outcome === 1) written += 1;
        else retry.push(write.docId);
      }
      this.conflicts += retry.length;
      pending = retry;
    }
    return { written, retired: false };
  }

  /** The document after the events it has not seen yet, with its index changes; undefined when nothing changes. */
  private async fold(
    version: string,
    docId: string,
    raw: string | null,
    events: readonly SourceEvent[],
  ): Promise<{ next: string; ops: string } | undefined> {
    const definition = this.definition;
    const before = raw === null ? undefined : parseStored<D>(raw);
    const cursors: Record<string, number> = { ...(before?.c ?? {}) };
    // Parsed again: `evolve` may reuse what it is given, and `before` must stay as it was read.
    let doc = raw === null ? definition.initial(docId) : parseStored<D>(raw).d;
    let changed = false;
    for (const event of events) {
      const cursor = cursors[event.streamId] ?? -1;
      if (event.revision <= cursor) continue;
      if (event.revision > cursor + 1) {
        const reader = this.options.reader;
        if (reader === undefined) {
          throw new TransientError(`${event.streamId}@${event.revision} arrived before @${cursor + 1}; it waits for it`);
        }
        for await (const missing of reader.read(event.streamId, cursor + 1, event.revision - cursor - 1)) {
          if (missing.revision <= (cursors[event.streamId] ?? -1) || missing.revision >= event.revision) continue;
          doc = definition.evolve(doc, missing);
          cursors[event.streamId] = missing.revision;
        }
      }
      doc = definition.evolve(doc, event);
      cursors[event.streamId] = event.revision;
      changed = true;
    }
    if (!changed) return undefined;

    const old = before === undefined ? new Map<string, IndexEntry>() : indexMap(definition.indexes(docId, before.d));
    const now = indexMap(definition.indexes(docId, doc));
    const ops: string[][] = [];
    for (const [key, entry] of old) {
      if (!now.has(key)) ops.push(["ZREM", this.keys.index(version, entry.index), entry.member]);
    }
    for (const [key, entry] of now) {
      if (old.get(key)?.score !== entry.score) ops.push(["ZADD", this.keys.index(version, entry.index), String(entry.score), entry.member]);
    }
    return { next: serialize(cursors, doc), ops: JSON.stringify(ops) };
  }
}

/** The live pointer and the rebuild's pointer of one projection. */
export class ProjectionPointers {
  constructor(
    private readonly redis: Redis,
    readonly keys: ProjectionKeys,
  ) {}

  /** The version queries read; undefined when nothing was ever projected. */
  async live(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.live)) ?? undefined;
  }

  /** The versions a live consumer writes: the live one (created on first use) and the one a rebuild fills. */
  async active(): Promise<string[]> {
    let [live, building] = await this.redis.mget(this.keys.live, this.keys.building);
    if (live === null || live === undefined) {
      await this.redis.set(this.keys.live, INITIAL_VERSION, "NX");
      [live, building] = await this.redis.mget(this.keys.live, this.keys.building);
    }
    const versions = typeof live === "string" ? [live] : [];
    if (typeof building === "string" && building !== live) versions.push(building);
    return versions;
  }
}
