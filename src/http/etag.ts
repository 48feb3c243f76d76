import { HttpProblem } from "./problem.js";
import type { AppContext } from "./state.js";

/** Weak, because the representation is a JSON rendering of the aggregate at that revision. */
export function revisionETag(revision: number): string {
  return `W/"${revision}"`;
}

export function setRevisionETag(ctx: AppContext, revision: number): void {
  ctx.set("ETag", revisionETag(revision));
}

const ENTITY_TAG = String.raw`(?:W/)?"[\x21\x23-\x7E\x80-\xFF]*"`;
const IF_MATCH_LIST = new RegExp(String.raw`^\s*(?:,\s*)*${ENTITY_TAG}(?:\s*(?:,\s*)+${ENTITY_TAG})*(?:\s*,)*\s*$`);
const TAG_VALUE = /(?:W\/)?"([^"]*)"/g;
const REVISION = /^(0|[1-9][0-9]{0,15})$/;

/**
 * `If-Match` to the revision the client expects, for `CommandContext.expectedRevision`:
 * - absent or `*`: undefined (no revision check; the command still needs the resource to exist);
 * - one entity tag, weak or strong (`W/"3"`, `"3"`): 3. We compare weakly because we issue weak tags;
 * - a well-formed tag that is not a revision (`"abc"`): 412, it can never match;
 * - several tags, or anything that is not entity-tag syntax: 400 `invalid-if-match`.
 */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  if (header.trim() === "*") return undefined;
  if (!IF_MATCH_LIST.test(header)) {
    throw new HttpProblem(400, "invalid-if-match", { detail: 'If-Match must be "*" or one entity tag such as W/"3"' });
  }
  const values = [...header.matchAll(TAG_VALUE)].map((match) => match[1] ?? "");
  const [value] = values;
  if (values.length !== 1 || value === undefined) {
    throw new HttpProblem(400, "invalid-if-match", { detail: "If-Match must carry exactly one entity tag" });
  }
  const revision = REVISION.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(revision)) {
    throw new HttpProblem(412, "revision-mismatch", { detail: `If-Match ${header.trim()} does not match any revision` });
  }
  return revision;
}

export function expectedRevisionOf(ctx: AppContext): number | undefined {
  return parseIfMatch(ctx.get("If-Match") || undefined);
}
