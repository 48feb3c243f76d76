/**
 * Cursors of the paginated lists (API.md "Additions"). A list is a sorted set read newest first,
 * ordered by (score desc, member desc); a cursor names the last position a page reached, so the
 * next page starts strictly after it whatever was inserted meanwhile (keyset, never an offset).
 * Opaque to clients: base64url of `[score, member]`, so the encoding may change without notice.
 */

/** Where a page stopped: the sort score (a time in ms) and the member at that score. */
export interface ListPosition {
  readonly score: number;
  readonly member: string;
}

/** A page of a list; `nextCursor` is null at the end. */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/** Longer cursors are refused before decoding: no member of ours comes close. */
export const MAX_CURSOR_LENGTH = 512;

export const encodeCursor = (position: ListPosition): string =>
  Buffer.from(JSON.stringify([position.score, position.member]), "utf8").toString("base64url");

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The position a cursor names, or undefined for anything this API did not make. */
export const decodeCursor = (cursor: string): ListPosition | undefined => {
  if (cursor.length === 0 || cursor.length > MAX_CURSOR_LENGTH || !BASE64URL.test(cursor)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
  const [score, member] = parsed as [unknown, unknown];
  if (typeof score !== "number" || !Number.isFinite(score) || typeof member !== "string" || member.length === 0) return undefined;
  return { score, member };
};

/** True when `a` comes before `b` newest first: higher score, then (same score) the greater member. */
export const comesBefore = (a: ListPosition, b: ListPosition): boolean => a.score > b.score || (a.score === b.score && a.member > b.member);
