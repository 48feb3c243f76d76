import { linkIdOf } from "./link-id.js";
import type { LinkRow } from "./link-index.js";
import { linkMetadataOf, linkTargetOf, linkTypeOf } from "./standard-projections.js";
import { LINK_EVENT_TYPE, type StoredEvent } from "./types.js";

/** What a link event is made from: the record its projection processed, and what a link resolves to. */
export interface LinkSources {
  recordAt(position: number): StoredEvent | undefined;
  resolveLink(link: StoredEvent): StoredEvent | undefined;
}

/** What a projection link's event is made of, beyond its place in the log. */
export interface DerivedLink {
  readonly target: string;
  readonly data: Uint8Array;
  readonly metadata: Uint8Array;
  readonly createdMicros: number;
}

export const deriveLink = (row: LinkRow, sources: LinkSources): DerivedLink => {
  const record = sources.recordAt(row.source);
  if (!record) throw new Error(`projection link at ${row.position} points to no record (${row.source})`);
  const resolved = record.type === LINK_EVENT_TYPE ? sources.resolveLink(record) : undefined;
  const target = linkTargetOf(row.kind, { record, resolved });
  return {
    target,
    data: Buffer.from(target, "utf8"),
    metadata: Buffer.from(linkMetadataOf(row.kind, { record, resolved }), "utf8"),
    createdMicros: record.createdMicros,
  };
};

/**
 * A link of a projection stream as a `$>` event. Its data and metadata are derived from the record
 * it came from, and only when asked for: readers that look at a link's stream name only (filtered
 * `$all` reads and subscriptions skipping the projections' streams) never pay for them.
 */
export const linkEventOf = (row: LinkRow, sources: LinkSources): StoredEvent => {
  let derived: DerivedLink | undefined;
  let id: string | undefined;
  const derive = (): DerivedLink => (derived ??= deriveLink(row, sources));
  return {
    position: row.position,
    streamId: row.stream,
    revision: row.revision,
    type: linkTypeOf(row.kind),
    contentType: "application/octet-stream",
    get eventId() {
      return (id ??= linkIdOf(row.position));
    },
    get data() {
      return derive().data;
    },
    get metadata() {
      return derive().metadata;
    },
    get createdMicros() {
      return derive().createdMicros;
    },
  };
};
