import type { z } from "zod";
import type { FieldError } from "./problem.js";

export type InputLocation = "body" | "params" | "query" | "headers";

/** Request input failed its schema: a 400 `validation-failed` listing every issue. */
export class RequestValidationError extends Error {
  override readonly name = "RequestValidationError";

  constructor(readonly errors: readonly FieldError[]) {
    super(`invalid request: ${errors.map((error) => `${error.path || "(body)"}: ${error.message}`).join("; ")}`);
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
