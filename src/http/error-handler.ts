import type { Middleware } from "koa";
import { match, P } from "ts-pattern";
import { z } from "zod";
import {
  AccessDeniedError,
  AggregateDeletedError,
  AggregateUnreadableError,
  IdempotencyKeyReusedError,
  PaymentDeclinedError,
  ResourceNotFoundError,
  RevisionMismatchError,
  ServiceUnavailableError,
} from "../application/errors.js";
import { PaymentProviderUnavailableError } from "../application/payment-provider.js";
import { ReadModelUnavailableError } from "../application/read-models.js";
import { UnpaidHoldsLimitError } from "../application/unpaid-holds.js";
import { DomainError } from "../domain/errors.js";
import { HttpProblem, problem, sendProblem, type Problem } from "./problem.js";
import type { AppContext, AppState } from "./state.js";
import { RequestValidationError } from "./validation.js";

export interface ProblemResponse {
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;
}

const HTTP_ERROR_CODES: Readonly<Record<number, string>> = {
  400: "bad-request",
  404: "not-found",
  405: "method-not-allowed",
  408: "request-timeout",
  411: "length-required",
  413: "payload-too-large",
  414: "uri-too-long",
  415: "unsupported-media-type",
  431: "request-header-fields-too-large",
};

/** Errors from Koa and the body parser stack (http-errors): `status`, `expose`, sometimes `type`/`limit`. */
const HttpErrorShape = z.looseObject({
  status: z.int().min(400).max(499),
  expose: z.boolean().optional(),
  type: z.string().optional(),
  limit: z.number().optional(),
});

function fromHttpError(error: unknown): ProblemResponse | undefined {
  const shape = HttpErrorShape.safeParse(error);
  if (!shape.success) return undefined;
  const { status, type, limit } = shape.data;
  if (status === 400 && error instanceof SyntaxError) {
    return { problem: problem(400, "invalid-json", { detail: `the request body is not valid JSON: ${error.message}` }), headers: {} };
  }
  if (status === 413) {
    const detail = limit === undefined ? "the request body is too large" : `the request body exceeds ${limit} bytes`;
    return { problem: problem(413, "payload-too-large", { detail }), headers: {} };
  }
  if (status === 415) {
    const detail = type === "encoding.unsupported" ? "unsupported Content-Encoding" : "unsupported media type";
    return { problem: problem(415, "unsupported-media-type", { detail }), headers: {} };
  }
  const code = HTTP_ERROR_CODES[status] ?? "bad-request";
  const detail = shape.data.expose === true && error instanceof Error ? error.message : undefined;
  return { problem: problem(status, code, detail === undefined ? {} : { detail }), headers: {} };
}

function retryAfter(seconds: number): string {
  return String(Math.max(1, Math.ceil(Number.isFinite(seconds) ? seconds : 1)));
}

function domainStatus(error: DomainError): number {
  return match(error.code)
    .with("not-found", () => 404)
    .with("invalid-command", () => 400)
    .otherwise(() => 409);
}

/** Maps a thrown value to the problem the client gets; undefined for anything unexpected (a 500). */
export function toProblemResponse(error: unknown): ProblemResponse | undefined {
  const none = {} as const;
  return match(error)
    .with(P.instanceOf(HttpProblem), (e) => ({ problem: e.problem, headers: e.headers }))
    .with(P.instanceOf(RequestValidationError), (e) => ({
      problem: problem(400, "validation-failed", {
        detail:
          e.omitted > 0
            ? `the request is invalid; the first ${e.errors.length} errors are listed, ${e.omitted} more are not`
            : "the request is invalid",
        errors: e.errors,
        ...(e.omitted > 0 ? { extensions: { omittedErrors: e.omitted } } : {}),
      }),
      headers: none,
    }))
    .with(P.instanceOf(DomainError), (e) => ({
      problem: problem(domainStatus(e), e.code, { detail: e.message, ...(e.details === undefined ? {} : { extensions: e.details }) }),
      headers: none,
    }))
    .with(P.instanceOf(AccessDeniedError), (e) => ({ problem: problem(403, "forbidden", { detail: e.message }), headers: none }))
    .with(P.instanceOf(ResourceNotFoundError), (e) => ({
      problem: problem(404, "not-found", { detail: e.message, extensions: { resource: e.resource } }),
      headers: none,
    }))
    .with(P.instanceOf(IdempotencyKeyReusedError), (e) => ({
      problem: problem(422, "idempotency-key-reused", { detail: e.message, extensions: { reservationId: e.reservationId } }),
      headers: none,
    }))
    .with(P.instanceOf(UnpaidHoldsLimitError), (e) => ({
      problem: problem(409, "unpaid-holds-limit", { detail: e.message, extensions: { limit: e.limit } }),
      headers: none,
    }))
    .with(P.instanceOf(AggregateDeletedError), (e) => ({
      problem: problem(404, "not-found", { detail: e.message, extensions: { resource: e.streamId.slice(0, e.streamId.indexOf("-")) } }),
      headers: none,
    }))
    .with(P.instanceOf(AggregateUnreadableError), (e) => ({
      problem: problem(503, "aggregate-unreadable", {
        detail: `${e.streamId} holds an event that cannot be read; an operator has been told. Retry later.`,
      }),
      headers: { "Retry-After": "60" },
    }))
    .with(P.instanceOf(RevisionMismatchError), (e) => ({
      problem: problem(412, "revision-mismatch", {
        detail: e.message,
        extensions: { expectedRevision: e.expected, currentRevision: e.actual },
      }),
      headers: none,
    }))
    .with(P.instanceOf(ServiceUnavailableError), (e) => ({
      problem: problem(503, "service-unavailable", { detail: e.message }),
      headers: { "Retry-After": retryAfter(e.retryAfterSeconds) },
    }))
    .with(P.instanceOf(PaymentDeclinedError), (e) => ({
      problem: problem(402, "payment-declined", {
        detail: e.message,
        extensions: { reason: e.reason, paymentId: e.payment.id, paymentStatus: e.payment.status },
      }),
      headers: none,
    }))
    .with(P.instanceOf(PaymentProviderUnavailableError), (e) => ({
      problem: problem(503, "payment-provider-unavailable", {
        detail: `the payment provider cannot take the payment right now; it stays pending, try again later (${e.message})`,
      }),
      headers: { "Retry-After": retryAfter(e.retryAfterSeconds) },
    }))
    .with(P.instanceOf(ReadModelUnavailableError), (e) => ({
      problem: problem(503, "read-model-unavailable", { detail: e.message }),
      headers: { "Retry-After": retryAfter(e.retryAfterSeconds) },
    }))
    .otherwise(fromHttpError);
}

const INTERNAL = problem(500, "internal", {
  detail: "an unexpected error occurred; it has been logged with this request's X-Request-Id",
});

/** Positions of unreadable events already logged: one error line per bad event, not one per request. */
const reported = new Set<string>();

const reportUnreadable = (ctx: AppContext, error: AggregateUnreadableError): void => {
  const position = `${error.streamId}@${error.revision}`;
  if (reported.has(position)) return;
  if (reported.size < 10_000) reported.add(position);
  ctx.state.log.error(
    { streamId: error.streamId, revision: error.revision, eventType: error.eventType, reason: error.reason },
    "an event does not match its schema: the aggregate cannot be read until it is upcast or repaired",
  );
};

export interface ErrorHandlerOptions {
  /**
   * True while the service shuts down: an unexpected error is then the event store or the circuit
   * being taken away from a request (a cancelled call), answered 503 and not logged as a fault.
   */
  readonly isStopping?: () => boolean;
}

/** The last line of defence: every error becomes a problem+json answer; unexpected ones are logged and hidden. */
export function errorHandler(options: ErrorHandlerOptions = {}): Middleware<AppState> {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const response = toProblemResponse(error);
      if (error instanceof AggregateUnreadableError) reportUnreadable(ctx, error);
      if (response === undefined && options.isStopping?.() === true) {
        ctx.state.log.info({ requestId: ctx.state.requestId, reason: String(error) }, "request cut short by shutdown: answered 503");
        ctx.set("Connection", "close");
        sendProblem(ctx, problem(503, "service-stopping", { detail: "the service is shutting down; retry the request" }), {
          "Retry-After": "2",
        });
        return;
      }
      if (response === undefined) {
        ctx.state.log.error({ err: error, requestId: ctx.state.requestId }, "unhandled error");
        sendProblem(ctx, INTERNAL);
        return;
      }
      sendProblem(ctx, response.problem, response.headers);
    }
  };
}
