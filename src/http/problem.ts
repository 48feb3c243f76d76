import type { AppContext } from "./state.js";

/** Every problem `type` is this base plus a kebab-case code. */
export const PROBLEM_TYPE_BASE = "https://reservations.example/problems/";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** RFC 9457 problem details, plus extension members such as `available`. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly errors?: readonly FieldError[];
  readonly [extension: string]: unknown;
}

const RESERVED_MEMBERS = new Set(["type", "title", "status", "detail", "errors", "instance"]);

const TITLES: Readonly<Record<string, string>> = {
  "validation-failed": "Invalid request",
  "invalid-json": "Malformed JSON body",
  "invalid-if-match": "Malformed If-Match header",
  "payload-too-large": "Request body too large",
  "unsupported-media-type": "Unsupported media type",
  unauthorized: "Authentication required",
  forbidden: "Forbidden",
  "not-found": "Not found",
  "method-not-allowed": "Method not allowed",
  "not-implemented": "Not implemented",
  "revision-mismatch": "Precondition failed",
  "service-unavailable": "Service unavailable",
  internal: "Internal server error",
};

export function problemType(code: string): string {
  return `${PROBLEM_TYPE_BASE}${code}`;
}

/** A stable title per code; codes without one read as a sentence ("insufficient-availability" -> "Insufficient availability"). */
export function problemTitle(code: string): string {
  const known = TITLES[code];
  if (known !== undefined) return known;
  const words = code.replaceAll("-", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export interface ProblemOptions {
  readonly detail?: string;
  readonly errors?: readonly FieldError[];
  /** Extra members; the standard ones cannot be overridden through this. */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

export function problem(status: number, code: string, options: ProblemOptions = {}): Problem {
  const extensions = Object.fromEntries(Object.entries(options.extensions ?? {}).filter(([key]) => !RESERVED_MEMBERS.has(key)));
  return {
    type: problemType(code),
    title: problemTitle(code),
    status,
    ...(options.detail === undefined ? {} : { detail: options.detail }),
    ...(options.errors === undefined ? {} : { errors: options.errors }),
    ...extensions,
  };
}

/** Thrown by the edge itself (auth, media type, preconditions) to answer with a problem. */
export class HttpProblem extends Error {
  override readonly name = "HttpProblem";
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly status: number,
    readonly code: string,
    options: ProblemOptions & { readonly headers?: Readonly<Record<string, string>> } = {},
  ) {
    super(options.detail ?? problemTitle(code));
    this.problem = problem(status, code, options);
    this.headers = options.headers ?? {};
  }
}

export function sendProblem(ctx: AppContext, body: Problem, headers: Readonly<Record<string, string>> = {}): void {
  for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  ctx.status = body.status;
  ctx.body = body;
  ctx.type = PROBLEM_CONTENT_TYPE;
}
