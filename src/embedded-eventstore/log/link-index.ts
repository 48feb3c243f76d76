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

/**
 * The standard projections' links, kept as small rows in the log's own database and written in the
 * same transaction as the events they come from, so that a link exists exactly when its event does.
 * The link events themselves (data, metadata) are put together when read.
 */
export class LinkIndex {
  private readonly statements;

  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS projection_links (
        position INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
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
      insert: db.prepare(`INSERT INTO projection_links (position, stream, revision, source, kind) VALUES (?, ?, ?, ?, ?)`),
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
  }

  insert(link: LinkRow): void {
    this.statements.insert.run(link.position, link.stream, link.revision, link.source, link.kind);
  }

  /** Last revision of a projection stream, -1 when it has no links. */
  lastRevision(stream: string): number {
    return (this.statements.lastRevision.get(stream) as { last: number | null }).last ?? -1;
  }

  at(stream: string, revision: number): LinkRow | undefined {
    return this.statements.byRevision.get(stream, revision) as LinkRow | undefined;
  }

  /** Links of a stream from a revision (inclusive), in either direction. */
  streamPage(stream: string, from: number, direction: "forwards" | "backwards", limit: number): LinkRow[] {
    const statement = direction === "forwards" ? this.statements.streamForwards : this.statements.streamBackwards;
    return statement.all(stream, from, limit) as LinkRow[];
  }

  /** Links by position: forwards from `from` inclusive, backwards strictly below it, as `$all` reads go. */
  allPage(from: number, direction: "forwards" | "backwards", limit: number): LinkRow[] {
    const statement = direction === "forwards" ? this.statements.allForwards : this.statements.allBackwards;
    return statement.all(from, limit) as LinkRow[];
  }

  lastLink(): LinkRow | undefined {
    return this.statements.last.get() as LinkRow | undefined;
  }

  /** Position of the last record the projections processed; -1 when they never ran on this log. */
  checkpoint(): number {
    return (this.statements.checkpoint.get() as { position: number } | undefined)?.position ?? -1;
  }

  setCheckpoint(position: number): void {
    this.statements.setCheckpoint.run(position);
  }
}
