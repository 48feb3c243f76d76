import { describe, expect, it } from "vitest";
import {
  AccessDeniedError,
  PaymentDeclinedError,
  ResourceNotFoundError,
  RevisionMismatchError,
  ServiceUnavailableError,
} from "../../src/application/errors.js";
import { PaymentProviderUnavailableError } from "../../src/application/payment-provider.js";
import { ReadModelUnavailableError } from "../../src/application/read-models.js";
import {
  CancelNotAllowedError,
  DomainError,
  InsufficientAvailabilityError,
  InvalidCommandError,
  NotFoundError,
  ProductWithdrawnError,
} from "../../src/domain/errors.js";
import { toProblemResponse } from "../../src/http/error-handler.js";
import { HttpProblem, problem } from "../../src/http/problem.js";
import { PROBLEM_BASE, paymentView, problemOf, reservationView, type TestServer, useTestServer } from "./support.js";

describe("toProblemResponse", () => {
  it.each([
    [new NotFoundError("product"), 404, "not-found"],
    [new InvalidCommandError("quantity", "must be positive"), 400, "invalid-command"],
    [new InsufficientAvailabilityError(2, 5), 409, "insufficient-availability"],
    [new ProductWithdrawnError(), 409, "product-withdrawn"],
    [new CancelNotAllowedError("in-progress"), 409, "cancel-not-allowed"],
    [new AccessDeniedError("not yours"), 403, "forbidden"],
    [new ResourceNotFoundError("reservation", "r-1"), 404, "not-found"],
    [new RevisionMismatchError(3, 4), 412, "revision-mismatch"],
    [new ServiceUnavailableError("event store down", 2), 503, "service-unavailable"],
    [new HttpProblem(415, "unsupported-media-type"), 415, "unsupported-media-type"],
    [new PaymentDeclinedError("insufficient funds", paymentView()), 402, "payment-declined"],
    [new PaymentProviderUnavailableError("circuit open", 3), 503, "payment-provider-unavailable"],
    [new ReadModelUnavailableError("Redis is down", 5), 503, "read-model-unavailable"],
  ])("maps %s to %i %s", (error, status, code) => {
    const response = toProblemResponse(error);
    expect(response?.problem).toMatchObject({ type: `${PROBLEM_BASE}${code}`, status });
    expect(typeof response?.problem.title).toBe("string");
  });

  it("copies a rule's details as extension members, never over the standard ones", () => {
    const error = new DomainError("insufficient-availability", "only 2", { available: 2, status: 999, type: "x" });
    expect(toProblemResponse(error)?.problem).toEqual({
      type: `${PROBLEM_BASE}insufficient-availability`,
      title: "Insufficient availability",
      status: 409,
      detail: "only 2",
      available: 2,
    });
  });

  it("adds Retry-After to a 503, rounded up to whole seconds and at least 1", () => {
    expect(toProblemResponse(new PaymentProviderUnavailableError("circuit open", 0.5))?.headers).toEqual({ "Retry-After": "1" });
    expect(toProblemResponse(new ReadModelUnavailableError("Redis is down", 5))?.headers).toEqual({ "Retry-After": "5" });
    expect(toProblemResponse(new ServiceUnavailableError("busy", 2.2))?.headers).toEqual({ "Retry-After": "3" });
    expect(toProblemResponse(new ServiceUnavailableError("busy", 0))?.headers).toEqual({ "Retry-After": "1" });
  });

  it("treats body-parser errors by status", () => {
    const tooLarge = Object.assign(new Error("request entity too large"), { status: 413, expose: true, limit: 10 });
    expect(toProblemResponse(tooLarge)?.problem).toMatchObject({ status: 413, detail: "the request body exceeds 10 bytes" });
    const syntax = Object.assign(new SyntaxError("Unexpected token"), { status: 400 });
    expect(toProblemResponse(syntax)?.problem.type).toBe(`${PROBLEM_BASE}invalid-json`);
  });

  it("leaves anything unexpected to the 500 path", () => {
    expect(toProblemResponse(new Error("boom"))).toBeUndefined();
    expect(toProblemResponse(new TypeError("x is undefined"))).toBeUndefined();
    expect(toProblemResponse("a string")).toBeUndefined();
    expect(toProblemResponse(Object.assign(new Error("db"), { status: 500 }))).toBeUndefined();
  });

  it("builds problems with one type base", () => {
    expect(problem(404, "not-found").type).toBe("https://reservations.example/problems/not-found");
  });
});

describe("problem responses over HTTP", () => {
  let server: TestServer;
  let customer: string;
  const id = "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10";

  useTestServer((fixture) => ({ server, customer } = fixture));

  it("lists at most 20 field errors and says how many more there were (a 65 KB body of unknown keys got a 339 KB answer)", async () => {
    const body: Record<string, unknown> = { productId: id, quantity: 1 };
    for (let i = 0; i < 3000; i += 1) body[`unknown${i}`] = i;
    const response = await server.request("/reservations", { method: "POST", token: customer, json: body });
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text.length).toBeLessThan(4096);
    const problem = JSON.parse(text) as { errors: unknown[]; omittedErrors: number; detail: string };
    expect(problem.errors).toHaveLength(20);
    expect(problem.omittedErrors).toBe(2980);
    expect(problem.detail).toContain("2980 more");
  });

  async function cancelThrowing(error: unknown): Promise<Response> {
    server.reservations.cancel = async () => {
      throw error;
    };
    return server.request(`/reservations/${id}/cancel`, { method: "POST", token: customer });
  }

  it.each([
    [new InsufficientAvailabilityError(1, 3), 409, "insufficient-availability", { available: 1, requested: 3 }],
    [new NotFoundError("reservation"), 404, "not-found", {}],
    [new InvalidCommandError("step", "unknown"), 400, "invalid-command", { field: "step" }],
    [new AccessDeniedError("not your reservation"), 403, "forbidden", {}],
    [new ResourceNotFoundError("reservation", id), 404, "not-found", { resource: "reservation" }],
    [new RevisionMismatchError(1, 2), 412, "revision-mismatch", { expectedRevision: 1, currentRevision: 2 }],
  ])("answers %s as %i", async (error, status, code, members) => {
    const response = await cancelThrowing(error);
    expect(response.status).toBe(status);
    const body = await problemOf(response);
    expect(body).toMatchObject({ type: `${PROBLEM_BASE}${code}`, status, ...members });
    expect(body.detail).toBe((error as Error).message);
  });

  it("answers 503 with Retry-After", async () => {
    const response = await cancelThrowing(new ServiceUnavailableError("overloaded", 5));
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("5");
    expect((await problemOf(response)).type).toBe(`${PROBLEM_BASE}service-unavailable`);
  });

  it("hides an unexpected error behind a generic 500 and logs it with the request id", async () => {
    const secret = "connection string postgres://user:pw@db";
    server.reservations.cancel = async () => {
      throw new Error(secret);
    };
    const failed = await server.request(`/reservations/${id}/cancel`, {
      method: "POST",
      token: customer,
      headers: { "X-Request-Id": "trace-500" },
    });
    expect(failed.status).toBe(500);
    const text = await failed.clone().text();
    expect(text).not.toContain(secret);
    expect(text).not.toMatch(/\bat .*:\d+:\d+/);
    expect(text).not.toContain("stack");
    expect(await problemOf(failed)).toMatchObject({ type: `${PROBLEM_BASE}internal`, status: 500 });
    const logged = server.logs.find((line) => line.msg === "unhandled error");
    expect(logged).toMatchObject({ requestId: "trace-500", level: 50 });
    expect(JSON.stringify(logged)).toContain(secret);
  });

  it("keeps the service's ReservationView shape on success", async () => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const response = await server.request(`/reservations/${reservation.id}`, { token: customer });
    expect(await response.json()).toEqual(reservation);
  });
});
