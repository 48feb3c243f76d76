import type Database from "better-sqlite3";
import type { ProjectionKind } from "./standard-projections.js";

/** One link of a projection stream: where it sits in `$all` and in its stream, and the record it was made from. */
export interface LinkRow {
  readonly position: number;
  readonly stream: string;
  readonly revision: number;
  /** Position of the record the projection processed (an event, or a link in a user stream). */
  readonly source: number;
  readonly kind: ProjectionKind;
}

interface StoredLinkRow {
  readonly position: number;
  readonly stream: number;
  readonly revision: number;
  readonly source: number;
  readonly kind: ProjectionKind;
}

/** The most links one record makes (`$streams`, `$category-`, `$ce-`, `$et-`, `$bc-`). */
const MAX_LINKS_PER_RECORD = 5;
/** The name/id caches are only caches: past this size they start again from the database. */
const MAX_CACHED_STREAMS = 100_000;

/**
 * The standard projections' links, kept as small rows in the log's own database and written in the
 * same transaction as the events they come from, so that a link exists exactly when its event does.
 * The link events themselves (data, metadata) are put together when read.
 *
 * Streams are numbered in the order they first get a link, and links are indexed by that number:
 * a new `$bc-<id>` stream's links then land on the last pages of the index instead of random ones
 * (a name-keyed index would dirty one more page per link and commit, and WAL writes whole pages).
 */
export class LinkIndex {
  private readonly statements;
  private readonly inserts: Database.Statement[];
  private readonly ids = new Map<string, number>();
  private readonly names = new Map<number, string>();

  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS projection_streams (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
      );
      CREATE TABLE IF NOT EXISTS projection_links (
        position INTEGER PRIMARY KEY,
        stream INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        source INTEGER NOT NULL,
        kind INTEGER NOT NULL
      );
      CREATE UNIQUE INDEX IF NOT EXISTS projection_links_by_stream ON projection_links (stream, revision);
      CREATE TABLE IF NOT EXISTS projection_checkpoint (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        position INTEGER NOT NULL
      );
    `);
    this.statements = {
      streamId: db.prepare(`SELECT id FROM projection_streams WHERE name = ?`),
      streamName: db.prepare(`SELECT name FROM projection_streams WHERE id = ?`),
      addStream: db.prepare(`INSERT INTO projection_streams (name) VALUES (?)`),
      lastRevision: db.prepare(`SELECT MAX(revision) AS last FROM projection_links WHERE stream = ?`),
      byRevision: db.prepare(`SELECT * FROM projection_links WHERE stream = ? AND revision = ?`),
      streamForwards: db.prepare(`SELECT * FROM projection_links WHERE stream = ? AND revision >= ? ORDER BY revision ASC LIMIT ?`),
      streamBackwards: db.prepare(`SELECT * FROM projection_links WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`),
      allForwards: db.prepare(`SELECT * FROM projection_links WHERE position >= ? ORDER BY position ASC LIMIT ?`),
      allBackwards: db.prepare(`SELECT * FROM projection_links WHERE position < ? ORDER BY position DESC LIMIT ?`),
      last: db.prepare(`SELECT * FROM projection_links ORDER BY position DESC LIMIT 1`),
      checkpoint: db.prepare(`SELECT position FROM projection_checkpoint WHERE id = 1`),
      setCheckpoint: db.prepare(
        `INSERT INTO projection_checkpoint (id, position) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET position = excluded.position`,
      ),
    };
    // One statement per number of links, so that a record's links are one call into SQLite.
    this.inserts = Array.from({ length: MAX_LINKS_PER_RECORD }, (_, index) =>
      db.prepare(
        `INSERT INTO projection_links (position, stream, revision, source, kind) VALUES ${Array(index + 1)
          .fill("(?, ?, ?, ?, ?)")
          .join(", ")}`,
      ),
    );
  }

  /** Inserts the links one record made (at most five). */
  insert(links: readonly LinkRow[]): void {
    for (let offset = 0; offset < links.length; offset += MAX_LINKS_PER_RECORD) {
      const chunk = links.slice(offset, offset + MAX_LINKS_PER_RECORD);
      const values: number[] = [];
      for (const link of chunk) values.push(link.position, this.idOrCreate(link.stream), link.revision, link.source, link.kind);
      this.inserts[chunk.length - 1]?.run(values);
    }
  }

  /** After a rollback, stream numbers handed out in it may not exist: forget what is cached. */
  forgetCached(): void {
    this.ids.clear();
    this.names.clear();
  }

  /** Last revision of a projection stream, -1 when it has no links. */
  lastRevision(stream: string): number {
    const id = this.idOf(stream);
    if (id === undefined) return -1;
    return (this.statements.lastRevision.get(id) as { last: number | null }).last ?? -1;
  }

  at(stream: string, revision: number): LinkRow | undefined {
    const id = this.idOf(stream);
    if (id === undefined) return undefined;
    const row = this.statements.byRevision.get(id, revision) as StoredLinkRow | undefined;
    return row ? this.named(row) : undefined;
  }

  /** Links of a stream from a revision (inclusive), in either direction. */
  streamPage(stream: string, from: number, direction: "forwards" | "backwards", limit: number): LinkRow[] {
    const id = this.idOf(stream);
    if (id === undefined) return [];
    const statement = direction === "forwards" ? this.statements.streamForwards : this.statements.streamBackwards;
    return (statement.all(id, from, limit) as StoredLinkRow[]).map((row) => this.named(row));
  }

  /** Links by position: forwards from `from` inclusive, backwards strictly below it, as `$all` reads go. */
  allPage(from: number, direction: "forwards" | "backwards", limit: number): LinkRow[] {
    const statement = direction === "forwards" ? this.statements.allForwards : this.statements.allBackwards;
    return (statement.all(from, limit) as StoredLinkRow[]).map((row) => this.named(row));
  }

  lastLink(): LinkRow | undefined {
    const row = this.statements.last.get() as StoredLinkRow | undefined;
    return row ? this.named(row) : undefined;
  }

  /** Position of the last record the projections processed; -1 when they never ran on this log. */
  checkpoint(): number {
    return (this.statements.checkpoint.get() as { position: number } | undefined)?.position ?? -1;
  }

  setCheckpoint(position: number): void {
    this.statements.setCheckpoint.run(position);
  }

  private idOf(stream: string): number | undefined {
    const cached = this.ids.get(stream);
    if (cached !== undefined) return cached;
    const row = this.statements.streamId.get(stream) as { id: number } | undefined;
    if (row) this.remember(stream, row.id);
    return row?.id;
  }

  private idOrCreate(stream: string): number {
    const existing = this.idOf(stream);
    if (existing !== undefined) return existing;
    const id = Number(this.statements.addStream.run(stream).lastInsertRowid);
    this.remember(stream, id);
    return id;
  }

  private named(row: StoredLinkRow): LinkRow {
    let name = this.names.get(row.stream);
    if (name === undefined) {
      name = (this.statements.streamName.get(row.stream) as { name: string } | undefined)?.name;
      if (name === undefined) throw new Error(`projection link at ${row.position} names no stream (${row.stream})`);
      this.remember(name, row.stream);
    }
    return { position: row.position, stream: name, revision: row.revision, source: row.source, kind: row.kind };
  }

  private remember(stream: string, id: number): void {
    if (this.ids.size >= MAX_CACHED_STREAMS) this.forgetCached();
    this.ids.set(stream, id);
    this.names.set(id, stream);
  }
}
