import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import {
  type AppendOutcome,
  type CurrentRevision,
  type DeleteOutcome,
  type Direction,
  type ExpectedRevision,
  type ProposedEvent,
  type StoredEvent,
  INT64_MAX,
  LINK_EVENT_TYPE,
  METADATA_EVENT_TYPE,
  TOMBSTONE_EVENT_TYPE,
  TOMBSTONE_REVISION,
  isMetastream,
  metastreamOf,
} from "./types.js";
import { type StreamMetadata, parseStreamMetadata } from "./stream-metadata.js";
import { clockMicros } from "./clock.js";
import { type LinkRow, LinkIndex } from "./link-index.js";
import { isProjectionStream, projectRecord } from "./standard-projections.js";
import { deriveLink, linkEventOf, type LinkSources } from "./link-events.js";
import { type DataDirectoryLock, lockDataDirectory } from "./data-directory-lock.js";

export interface EventLogOptions {
  /** Directory for the SQLite file; omitted means a throwaway in-memory log. */
  readonly dataDir?: string;
  /**
   * Run EventStoreDB's standard projections (`$streams`, `$stream_by_category`, `$by_category`,
   * `$by_event_type`, `$by_correlation_id`): every write adds its links in the same transaction, and records written
   * while they were off are caught up when the log opens.
   */
  readonly standardProjections?: boolean;
  /** Told how a long catch-up of the projections is going. */
  readonly onProgress?: (message: string) => void;
}

interface StreamState {
  /** Last revision written, -1 when the stream has no events. */
  last: number;
  tombstoned: boolean;
  metadata: StreamMetadata;
  /** `$$` streams keep only their last event visible, as if `$maxCount` were 1. */
  readonly isMetastream: boolean;
}

interface EventRow {
  position: number;
  stream: string;
  revision: number;
  event_id: string;
  type: string;
  content_type: string;
  data: Buffer;
  metadata: Buffer;
  created_us: number;
}

const toStored = (row: EventRow): StoredEvent => ({
  position: row.position,
  streamId: row.stream,
  revision: row.revision,
  eventId: row.event_id,
  type: row.type,
  contentType: row.content_type,
  data: row.data,
  metadata: row.metadata,
  createdMicros: row.created_us,
});

const utf8Length = (text: string): number => Buffer.byteLength(text, "utf8");

/** Size of a record in the log; positions advance by it, as EventStoreDB positions are byte offsets. */
const recordSize = (stream: string, type: string, data: Uint8Array, metadata: Uint8Array): number =>
  96 + utf8Length(stream) + utf8Length(type) + data.length + metadata.length;

/** A link record's size: its metadata (checkpoint tag, ids) is put together when read, so it is estimated. */
const linkRecordSize = (stream: string, target: string): number => 96 + utf8Length(stream) + 2 + utf8Length(target) + 160;

/** Catch-up of the projections: records per transaction, and how often it reports when it runs long. */
const CATCH_UP_PAGE = 5000;
/** How many projection streams' heads are kept in memory at most. */
const MAX_CACHED_HEADS = 100_000;
const CATCH_UP_REPORT_MS = 2000;

export type AppendListener = (lastPosition: number) => void;

export interface AppendRequest {
  readonly streamId: string;
  readonly expected: ExpectedRevision;
  readonly events: readonly ProposedEvent[];
}

/** One append of a group: its outcome, or the storage error that undid it alone. */
export type GroupAppendResult = { readonly outcome: AppendOutcome } | { readonly error: Error };

/** What must be put back when SQLite rolls a write back: the stream cache is simply rebuilt from disk. */
interface Positions {
  readonly lastPosition: number;
  readonly nextPosition: number;
}

/**
 * The single-node transaction log: every event of every stream in one total order ($all),
 * with per-stream revisions and optimistic concurrency, stored in SQLite.
 *
 * SQLite in WAL mode with `synchronous=FULL` makes each acknowledged append durable before the
 * call returns; a torn write at a crash is rolled back by SQLite's journal, never half-applied.
 */
export class EventLog {
  private readonly db: Database.Database;
  private readonly streams = new Map<string, StreamState>();
  /** Last revisions of the projection streams, for appending links. */
  private readonly projectionHeads = new Map<string, number>();
  private readonly listeners = new Set<AppendListener>();
  private nextPosition = 0;
  private lastPosition = -1;
  private readonly statements;
  /** Runs one append in a SAVEPOINT when called inside the group's transaction. */
  private readonly appendInSavepoint;
  private readonly links: LinkIndex;
  private readonly projecting: boolean;
  /** Whether `$all` must be merged with the projections' links at all. */
  private hasLinks: boolean;
  private readonly linkSources: LinkSources = {
    recordAt: (position) => {
      const row = this.statements.atPosition.get(position) as EventRow | undefined;
      return row ? toStored(row) : undefined;
    },
    resolveLink: (link) => this.resolveLink(link),
  };
  /** Held while the log is open, so that a second server on the same directory is refused at start. */
  private readonly lock: DataDirectoryLock | undefined;

  constructor(options: EventLogOptions = {}) {
    if (options.dataDir !== undefined) {
      mkdirSync(options.dataDir, { recursive: true });
      this.lock = lockDataDirectory(options.dataDir);
      try {
        this.db = new Database(join(options.dataDir, "eventstore.sqlite3"));
      } catch (error) {
        this.lock.release();
        throw error;
      }
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = FULL");
    } else {
      this.db = new Database(":memory:");
    }
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS events (
        position INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        revision INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        content_type TEXT NOT NULL,
        data BLOB NOT NULL,
        metadata BLOB NOT NULL,
        created_us INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS events_by_stream ON events (stream, revision);
      CREATE INDEX IF NOT EXISTS events_by_id ON events (event_id);
    `);
    this.statements = {
      insert: this.db.prepare(
        `INSERT INTO events (position, stream, revision, event_id, type, content_type, data, metadata, created_us)
         VALUES (@position, @stream, @revision, @event_id, @type, @content_type, @data, @metadata, @created_us)`,
      ),
      lastRevision: this.db.prepare(`SELECT MAX(revision) AS last FROM events WHERE stream = ? AND revision < ${TOMBSTONE_REVISION}`),
      tombstone: this.db.prepare(`SELECT 1 AS found FROM events WHERE stream = ? AND revision = ${TOMBSTONE_REVISION}`),
      byRevision: this.db.prepare(`SELECT * FROM events WHERE stream = ? AND revision = ?`),
      streamForwards: this.db.prepare(
        `SELECT * FROM events WHERE stream = ? AND revision >= ? AND revision < ${TOMBSTONE_REVISION} ORDER BY revision ASC LIMIT ?`,
      ),
      streamBackwards: this.db.prepare(`SELECT * FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`),
      allForwards: this.db.prepare(`SELECT * FROM events WHERE position >= ? ORDER BY position ASC LIMIT ?`),
      allBackwards: this.db.prepare(`SELECT * FROM events WHERE position < ? ORDER BY position DESC LIMIT ?`),
      lastRow: this.db.prepare(`SELECT * FROM events ORDER BY position DESC LIMIT 1`),
      atPosition: this.db.prepare(`SELECT * FROM events WHERE position = ?`),
      eventsAfter: this.db.prepare(`SELECT * FROM events WHERE position > ? ORDER BY position ASC LIMIT ?`),
      eventCount: this.db.prepare(`SELECT COUNT(*) AS count FROM events WHERE position > ?`),
      idsInStream: this.db.prepare(`SELECT revision FROM events WHERE stream = ? AND event_id = ?`),
    };
    this.appendInSavepoint = this.db.transaction((request: AppendRequest) =>
      this.appendInTransaction(request.streamId, request.expected, request.events),
    );
    this.links = new LinkIndex(this.db);
    this.projecting = options.standardProjections ?? false;
    const last = this.statements.lastRow.get() as EventRow | undefined;
    if (last) {
      this.lastPosition = last.position;
      this.nextPosition = last.position + recordSize(last.stream, last.type, last.data, last.metadata);
    }
    const lastLink = this.links.lastLink();
    this.hasLinks = lastLink !== undefined;
    if (lastLink && lastLink.position > this.lastPosition) {
      this.lastPosition = lastLink.position;
      this.nextPosition = lastLink.position + linkRecordSize(lastLink.stream, deriveLink(lastLink, this.linkSources).target);
    }
    if (this.projecting) this.catchUpProjections(options.onProgress);
  }

  close(): void {
    this.listeners.clear();
    if (this.db.open) this.db.close();
    this.lock?.release();
  }

  /** Called after every committed write with the log's new last position. */
  onAppended(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Position of the last record in the log, -1 when empty. */
  headPosition(): number {
    return this.lastPosition;
  }

  /** Position the next record will get; reading `$all` backwards from the end starts below it. */
  endPosition(): number {
    return this.nextPosition;
  }

  streamInfo(streamId: string): { readonly last: number; readonly tombstoned: boolean; readonly metadata: StreamMetadata } {
    return this.state(streamId);
  }

  append(streamId: string, expected: ExpectedRevision, events: readonly ProposedEvent[]): AppendOutcome {
    const [result] = this.appendGroup([{ streamId, expected, events }]);
    if (!result) throw new Error("appendGroup answered nothing");
    if ("error" in result) throw result.error;
    return result.outcome;
  }

  /**
   * Group commit: every append of the group in ONE SQLite transaction, so one fsync makes them all
   * durable. Each append is checked against the log as the earlier appends of the group left it,
   * exactly as if they had been committed one by one. An append that fails in storage is rolled back
   * to its savepoint alone; if the commit itself fails, the whole group is undone and this throws.
   * Listeners hear of the group only once it is committed, so no reader sees an uncommitted event.
   */
  appendGroup(requests: readonly AppendRequest[]): GroupAppendResult[] {
    const before = this.positions();
    let results: GroupAppendResult[];
    try {
      results = this.db.transaction(() => {
        const outcomes = requests.map((request) => this.appendOne(request));
        this.saveProjectionCheckpoint();
        return outcomes;
      })();
    } catch (error) {
      this.restore(before);
      throw toError(error);
    }
    if (this.lastPosition !== before.lastPosition) this.notify();
    return results;
  }

  /** Soft delete: the stream reads as not found and can be written again, numbering on from where it was. */
  delete(streamId: string, expected: ExpectedRevision): DeleteOutcome {
    const outcome = this.writeTransaction((): DeleteOutcome => {
      const state = this.state(streamId);
      if (state.tombstoned) return { kind: "stream_deleted" };
      const mismatch = this.checkExpected(streamId, state, expected);
      if (mismatch) return mismatch;
      // A stream with neither events nor metadata cannot be deleted, whatever was expected.
      if (state.last < 0 && !this.hasMetadata(streamId)) {
        return { kind: "wrong_expected_version", current: "no_stream", expected };
      }
      // EventStoreDB replaces the whole metadata document: other settings are lost on delete.
      const written = this.writeEvents(metastreamOf(streamId), [systemEvent(METADATA_EVENT_TYPE, `{"$tb":${INT64_MAX}}`)]);
      return { kind: "success", position: written.position };
    });
    if (outcome.kind === "success") this.notify();
    return outcome;
  }

  /** Hard delete: the stream can never be read or written again. */
  tombstone(streamId: string, expected: ExpectedRevision): DeleteOutcome {
    const outcome = this.writeTransaction((): DeleteOutcome => {
      const state = this.state(streamId);
      if (state.tombstoned) return { kind: "stream_deleted" };
      const mismatch = this.checkExpected(streamId, state, expected);
      if (mismatch) return mismatch;
      const position = this.insert(streamId, TOMBSTONE_REVISION, systemEvent(TOMBSTONE_EVENT_TYPE, ""));
      state.tombstoned = true;
      return { kind: "success", position };
    });
    if (outcome.kind === "success") this.notify();
    return outcome;
  }

  /**
   * Events of a stream as a reader sees them: truncated by `$tb`, `$maxCount` and `$maxAge`.
   * `from` is inclusive; "end" starts at the last event.
   */
  readStream(
    streamId: string,
    from: number | "start" | "end",
    direction: Direction,
    limit: number,
  ): StoredEvent[] | "not_found" | "deleted" {
    const state = this.state(streamId);
    if (state.tombstoned) return "deleted";
    const first = this.firstReadableRevision(state);
    if (state.last < 0 || first > state.last) return "not_found";
    const capped = Math.min(limit, Number.MAX_SAFE_INTEGER);
    let events: StoredEvent[];
    if (direction === "forwards") {
      const start = from === "start" ? first : from === "end" ? state.last + 1 : Math.max(from, first);
      events = this.streamPage(streamId, start, direction, capped);
    } else {
      const start = from === "end" ? state.last : from === "start" ? first : Math.min(from, state.last);
      events = this.streamPage(streamId, start, direction, capped).filter((event) => event.revision >= first);
    }
    return this.applyMaxAge(state.metadata, events);
  }

  /** A page of `$all` in log order; forwards includes `from`, backwards starts strictly below it. */
  readAll(from: number, direction: Direction, limit: number): StoredEvent[] {
    const rows =
      direction === "forwards"
        ? (this.statements.allForwards.all(from, limit) as EventRow[])
        : (this.statements.allBackwards.all(from, limit) as EventRow[]);
    if (!this.hasLinks) return rows.map(toStored);
    // The projections' links sit in `$all` between events: merge the two orders.
    const links = this.links.allPage(from, direction, limit);
    const before = direction === "forwards" ? (a: number, b: number) => a < b : (a: number, b: number) => a > b;
    const merged: StoredEvent[] = [];
    let event = 0;
    let link = 0;
    while (merged.length < limit) {
      const nextEvent = rows[event];
      const nextLink = links[link];
      if (!nextEvent && !nextLink) break;
      if (nextEvent && (!nextLink || before(nextEvent.position, nextLink.position))) {
        merged.push(toStored(nextEvent));
        event += 1;
      } else if (nextLink) {
        merged.push(this.linkEvent(nextLink));
        link += 1;
      }
    }
    return merged;
  }

  eventAt(streamId: string, revision: number): StoredEvent | undefined {
    if (isProjectionStream(streamId)) {
      const link = this.links.at(streamId, revision);
      return link ? this.linkEvent(link) : undefined;
    }
    const row = this.statements.byRevision.get(streamId, revision) as EventRow | undefined;
    return row ? toStored(row) : undefined;
  }

  /** Follows a `$>` link ("<revision>@<stream>") to the event it points to, if that is still readable. */
  resolveLink(link: StoredEvent): StoredEvent | undefined {
    if (link.type !== LINK_EVENT_TYPE) return undefined;
    const text = Buffer.from(link.data).toString("utf8");
    const at = text.indexOf("@");
    if (at <= 0) return undefined;
    const digits = text.slice(0, at);
    const streamId = text.slice(at + 1);
    // long.MaxValue, a tombstone's number, is beyond a double's exact range.
    const revision = digits === INT64_MAX ? TOMBSTONE_REVISION : Number(digits);
    if (!Number.isSafeInteger(revision)) return undefined;
    const state = this.state(streamId);
    if (state.tombstoned || revision < this.firstReadableRevision(state)) return undefined;
    const target = this.eventAt(streamId, revision);
    return target && this.applyMaxAge(state.metadata, [target]).length > 0 ? target : undefined;
  }

  private appendOne(request: AppendRequest): GroupAppendResult {
    const before = this.positions();
    try {
      return { outcome: this.appendInSavepoint(request) };
    } catch (error) {
      this.restore(before);
      return { error: toError(error) };
    }
  }

  private writeTransaction<T>(write: () => T): T {
    const before = this.positions();
    try {
      return this.db.transaction(() => {
        const result = write();
        this.saveProjectionCheckpoint();
        return result;
      })();
    } catch (error) {
      this.restore(before);
      throw error;
    }
  }

  private positions(): Positions {
    return { lastPosition: this.lastPosition, nextPosition: this.nextPosition };
  }

  /** After a rollback the cached stream states may be ahead of the database: forget them. */
  private restore(positions: Positions): void {
    this.lastPosition = positions.lastPosition;
    this.nextPosition = positions.nextPosition;
    this.streams.clear();
    this.projectionHeads.clear();
    this.links.forgetCached();
  }

  private appendInTransaction(streamId: string, expected: ExpectedRevision, events: readonly ProposedEvent[]): AppendOutcome {
    const state = this.state(streamId);
    if (state.tombstoned) return { kind: "stream_deleted" };
    if (expected.kind === "stream_exists" && state.metadata.softDeleted) return { kind: "stream_deleted" };
    const idempotent = this.idempotentResult(streamId, state, expected, events);
    if (idempotent) return idempotent;
    const mismatch = this.checkExpected(streamId, state, expected);
    if (mismatch) return mismatch;
    // Nothing to write: EventStoreDB answers with the current revision and no position.
    if (events.length === 0) return { kind: "success", revision: state.last, position: -1 };
    const firstNew = state.last + 1;
    const written = this.writeEvents(streamId, events);
    // Writing to a soft-deleted stream brings it back: the old events stay hidden behind `$tb`.
    if (state.metadata.softDeleted) {
      const metadataJson = mergeMetadataJson(state.metadata.raw, { $tb: String(firstNew) });
      this.writeEvents(metastreamOf(streamId), [systemEvent(METADATA_EVENT_TYPE, metadataJson)]);
    }
    return written;
  }

  private writeEvents(streamId: string, events: readonly ProposedEvent[]): { kind: "success"; revision: number; position: number } {
    const state = this.state(streamId);
    let position = this.lastPosition;
    for (const event of events) {
      position = this.insert(streamId, state.last + 1, event);
      state.last += 1;
      if (streamId.startsWith("$$") && event.type === METADATA_EVENT_TYPE) {
        this.refreshMetadata(streamId.slice(2), event.data);
      }
    }
    return { kind: "success", revision: state.last, position };
  }

  private insert(streamId: string, revision: number, event: ProposedEvent): number {
    const position = this.nextPosition;
    const createdMicros = clockMicros();
    this.statements.insert.run({
      position,
      stream: streamId,
      revision,
      event_id: event.id,
      type: event.type,
      content_type: event.contentType,
      data: Buffer.from(event.data.buffer, event.data.byteOffset, event.data.byteLength),
      metadata: Buffer.from(event.metadata.buffer, event.metadata.byteOffset, event.metadata.byteLength),
      created_us: createdMicros,
    });
    this.lastPosition = position;
    this.nextPosition = position + recordSize(streamId, event.type, event.data, event.metadata);
    if (this.projecting) {
      this.project({
        position,
        streamId,
        revision,
        eventId: event.id,
        type: event.type,
        contentType: event.contentType,
        data: event.data,
        metadata: event.metadata,
        createdMicros,
      });
    }
    return position;
  }

  /** Adds the links the standard projections make of one record, right behind it in `$all`. */
  private project(record: StoredEvent): void {
    const resolved = record.type === LINK_EVENT_TYPE ? this.resolveLink(record) : undefined;
    const rows: LinkRow[] = [];
    for (const link of projectRecord({ record, resolved })) {
      const revision = this.projectionHead(link.stream) + 1;
      const position = this.nextPosition;
      rows.push({ position, stream: link.stream, revision, source: record.position, kind: link.kind });
      this.setProjectionHead(link.stream, revision);
      const cached = this.streams.get(link.stream);
      if (cached) cached.last = revision;
      this.lastPosition = position;
      this.nextPosition = position + linkRecordSize(link.stream, link.target);
    }
    if (rows.length === 0) return;
    this.links.insert(rows);
    this.hasLinks = true;
  }

  private setProjectionHead(stream: string, revision: number): void {
    // A cache, not the truth: bounded, it falls back to the index when it starts again.
    if (this.projectionHeads.size >= MAX_CACHED_HEADS && !this.projectionHeads.has(stream)) this.projectionHeads.clear();
    this.projectionHeads.set(stream, revision);
  }

  /**
   * Last revision of a projection stream, without the metadata a reader's stream state loads: most
   * `$bc-` streams are written once and never read.
   */
  private projectionHead(stream: string): number {
    let head = this.projectionHeads.get(stream) ?? this.streams.get(stream)?.last;
    if (head === undefined) {
      head = this.links.lastRevision(stream);
      this.setProjectionHead(stream, head);
    }
    return head;
  }

  /** Records that every record up to the log's head has been projected, in the transaction that wrote them. */
  private saveProjectionCheckpoint(): void {
    if (this.projecting && this.lastPosition >= 0) this.links.setCheckpoint(this.lastPosition);
  }

  /**
   * Projects the records written while the projections were off (or before they existed), as a
   * real node's projections catch up: their links go to the end of the log.
   */
  private catchUpProjections(onProgress: ((message: string) => void) | undefined): void {
    let scanned = this.links.checkpoint();
    if (scanned >= this.lastPosition) return;
    const total = (this.statements.eventCount.get(scanned) as { count: number }).count;
    const started = Date.now();
    let reported = started;
    let done = 0;
    for (;;) {
      const page = (this.statements.eventsAfter.all(scanned, CATCH_UP_PAGE) as EventRow[]).map(toStored);
      const last = page.at(-1);
      if (!last) break;
      this.writeCatchUpPage(page, last.position);
      scanned = last.position;
      done += page.length;
      if (Date.now() - reported >= CATCH_UP_REPORT_MS) {
        reported = Date.now();
        onProgress?.(`Standard projections: indexed ${done} of ${total} records (${Math.floor((done / total) * 100)}%)`);
      }
    }
    this.writeTransaction(() => undefined);
    if (reported !== started)
      onProgress?.(`Standard projections: indexed ${done} records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  private writeCatchUpPage(page: readonly StoredEvent[], lastScanned: number): void {
    const before = this.positions();
    try {
      this.db.transaction(() => {
        for (const record of page) this.project(record);
        this.links.setCheckpoint(lastScanned);
      })();
    } catch (error) {
      this.restore(before);
      throw error;
    }
  }

  private linkEvent(row: LinkRow): StoredEvent {
    return linkEventOf(row, this.linkSources);
  }

  private streamPage(streamId: string, from: number, direction: Direction, limit: number): StoredEvent[] {
    if (isProjectionStream(streamId)) {
      return this.links.streamPage(streamId, from, direction, limit).map((row) => this.linkEvent(row));
    }
    const statement = direction === "forwards" ? this.statements.streamForwards : this.statements.streamBackwards;
    return (statement.all(streamId, from, limit) as EventRow[]).map(toStored);
  }

  /**
   * EventStoreDB treats a retried write of the same event ids as a success that writes nothing,
   * when the ids are found where the retried expectation would have put them.
   */
  private idempotentResult(
    streamId: string,
    state: StreamState,
    expected: ExpectedRevision,
    events: readonly ProposedEvent[],
  ): AppendOutcome | undefined {
    const firstEvent = events[0];
    if (!firstEvent || state.last < 0) return undefined;
    let firstRevision: number | undefined;
    if (expected.kind === "revision" || expected.kind === "no_stream") {
      const expectedRevision = expected.kind === "revision" ? expected.revision : -1;
      if (expectedRevision >= state.last) return undefined;
      firstRevision = expectedRevision + 1;
    } else {
      const found = this.statements.idsInStream.get(streamId, firstEvent.id) as { revision: number } | undefined;
      if (!found) return undefined;
      firstRevision = found.revision;
    }
    let lastMatched: StoredEvent | undefined;
    for (const [index, event] of events.entries()) {
      const stored = this.eventAt(streamId, firstRevision + index);
      if (!stored || stored.eventId !== event.id) {
        // A partial match is no retry: EventStoreDB reports it as a wrong expected version.
        return index === 0 && (expected.kind === "revision" || expected.kind === "no_stream")
          ? undefined
          : { kind: "wrong_expected_version", current: state.last, expected };
      }
      lastMatched = stored;
    }
    if (!lastMatched) return undefined;
    return { kind: "success", revision: lastMatched.revision, position: lastMatched.position };
  }

  private checkExpected(
    streamId: string,
    state: StreamState,
    expected: ExpectedRevision,
  ): { kind: "wrong_expected_version"; current: CurrentRevision; expected: ExpectedRevision } | undefined {
    const current: CurrentRevision = state.last >= 0 ? state.last : "no_stream";
    const ok =
      expected.kind === "any" ||
      (expected.kind === "no_stream" && (state.last < 0 || state.metadata.softDeleted)) ||
      // A stream that has metadata but no events yet counts as existing.
      (expected.kind === "stream_exists" && (state.last >= 0 || this.hasMetadata(streamId))) ||
      (expected.kind === "revision" && expected.revision === state.last && state.last >= 0);
    return ok ? undefined : { kind: "wrong_expected_version", current, expected };
  }

  private hasMetadata(streamId: string): boolean {
    return this.state(metastreamOf(streamId)).last >= 0;
  }

  private firstReadableRevision(state: StreamState): number {
    const { truncateBefore } = state.metadata;
    const maxCount = state.isMetastream ? 1 : state.metadata.maxCount;
    let first = truncateBefore ?? 0;
    if (maxCount !== undefined) first = Math.max(first, state.last - maxCount + 1);
    return first;
  }

  private applyMaxAge(metadata: StreamMetadata, events: StoredEvent[]): StoredEvent[] {
    if (metadata.maxAgeSeconds === undefined) return events;
    const oldest = clockMicros() - metadata.maxAgeSeconds * 1_000_000;
    return events.filter((event) => event.createdMicros >= oldest);
  }

  private state(streamId: string): StreamState {
    let state = this.streams.get(streamId);
    if (!state) {
      const projected = isProjectionStream(streamId);
      const last = projected
        ? this.links.lastRevision(streamId)
        : ((this.statements.lastRevision.get(streamId) as { last: number | null }).last ?? -1);
      const tombstoned = !projected && this.statements.tombstone.get(streamId) !== undefined;
      state = { last, tombstoned, metadata: this.loadMetadata(streamId), isMetastream: isMetastream(streamId) };
      this.streams.set(streamId, state);
    }
    return state;
  }

  private loadMetadata(streamId: string): StreamMetadata {
    const metastream = metastreamOf(streamId);
    const last = (this.statements.lastRevision.get(metastream) as { last: number | null }).last;
    if (last === null) return parseStreamMetadata(undefined);
    const event = this.eventAt(metastream, last);
    return parseStreamMetadata(event?.data);
  }

  private refreshMetadata(streamId: string, data: Uint8Array): void {
    const state = this.streams.get(streamId);
    if (state) state.metadata = parseStreamMetadata(data);
  }

  private notify(): void {
    for (const listener of this.listeners) listener(this.lastPosition);
  }
}

const toError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

const systemEvent = (type: string, json: string): ProposedEvent => ({
  id: crypto.randomUUID(),
  type,
  contentType: "application/json",
  data: Buffer.from(json, "utf8"),
  metadata: new Uint8Array(0),
});

/** Rewrites the given top-level keys of a metadata document, keeping numbers exact even beyond 2^53. */
const mergeMetadataJson = (raw: Record<string, unknown>, replacements: Record<string, string>): string => {
  const parts = Object.entries(raw)
    .filter(([key]) => !(key in replacements))
    .map(([key, value]) => `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  for (const [key, digits] of Object.entries(replacements)) parts.push(`${JSON.stringify(key)}:${digits}`);
  return `{${parts.join(",")}}`;
};
