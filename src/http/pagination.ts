import type { Context } from "koa";
import { decodeCursor, type ListPosition } from "../application/list-cursor.js";

/**
 * Paging of the list endpoints: the query's `cursor` as the position the store starts after, and
 * the `next` link of an answer (the same request with the next page's cursor).
 */

/** The list options of a validated query: `cursor` (already checked by its schema) becomes `after`. */
export const pageOptions = <Q extends { readonly cursor?: string | undefined }>(query: Q): Omit<Q, "cursor"> & { after?: ListPosition } => {
  const { cursor, ...rest } = query;
  const after = cursor === undefined ? undefined : decodeCursor(cursor);
  return after === undefined ? rest : { ...rest, after };
};

/** `{ next, nextCursor }` of an answer: null at the end; otherwise this path and query with the next cursor. */
export const pageLinks = (
  ctx: Pick<Context, "path" | "querystring">,
  nextCursor: string | null,
): { next: string | null; nextCursor: string | null } => {
  if (nextCursor === null) return { next: null, nextCursor: null };
  const params = new URLSearchParams(ctx.querystring);
  params.set("cursor", nextCursor);
  return { next: `${ctx.path}?${params.toString()}`, nextCursor };
};
