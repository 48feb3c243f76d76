import type { z } from "zod";
import type { FieldError } from "./problem.js";

export type InputLocation = "body" | "params" | "query" | "headers";

/** Field errors listed in one answer: a body with thousands of bad keys must not get a response many times its size. */
export const MAX_LISTED_ERRORS = 20;

/**
 * Request input failed its schema: a 400 `validation-failed` listing the first
 * `MAX_LISTED_ERRORS` issues; `omitted` says how many more there were.
 */
export class RequestValidationError extends Error {
  override readonly name = "RequestValidationError";
  readonly errors: readonly FieldError[];
  readonly omitted: number;

  constructor(errors: readonly FieldError[]) {
    const listed = errors.slice(0, MAX_LISTED_ERRORS);
    const omitted = errors.length - listed.length;
    super(
      `invalid request: ${listed.map((error) => `${error.path || "(body)"}: ${error.message}`).join("; ")}${omitted > 0 ? `; and ${omitted} more` : ""}`,
    );
    this.errors = listed;
    this.omitted = omitted;
  }
}

/**
 * Dotted paths: body fields bare (`name`, `fulfilmentSteps.2`, `""` for the body itself), other
 * locations prefixed (`params.id`, `query.status`, `headers.idempotency-key`).
 */
export function fieldErrors(error: z.ZodError, location: InputLocation = "body"): FieldError[] {
  const prefix = location === "body" ? [] : [location];
  const path = (segments: readonly PropertyKey[]) => [...prefix, ...segments.map(String)].join(".");
  return error.issues.flatMap((issue): FieldError[] =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: path([...issue.path, key]), message: "unknown field" }))
      : [{ path: path(issue.path), message: issue.message }],
  );
}

/** zod's default for a missing field reads "expected string, received undefined". */
function requiredMessage(issue: z.core.$ZodRawIssue): string | undefined {
  return issue.code === "invalid_type" && issue.input === undefined ? "required" : undefined;
}

export function parseInput<S extends z.ZodType>(location: InputLocation, schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value, { error: requiredMessage });
  if (!result.success) throw new RequestValidationError(fieldErrors(result.error, location));
  return result.data;
}
