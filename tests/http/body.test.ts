import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROBLEM_BASE, problemOf, reservationView, startTestServer, type TestServer } from "./support.js";

describe("JSON bodies", () => {
  let server: TestServer;
  let seller: string;
  let customer: string;

  beforeAll(async () => {
    server = await startTestServer({ HTTP_BODY_LIMIT: "1kb" });
    seller = await server.token("seller");
    customer = await server.token("customer");
  });
  afterAll(() => server.close());

  const post = (path: string, body: RequestInit["body"] | undefined, headers: Record<string, string>, token = seller) =>
    server.request(path, { method: "POST", token, headers, ...(body === undefined ? {} : { body }) });

  it("answers 413 past the limit", async () => {
    const body = JSON.stringify({ name: "x".repeat(2000), capacity: 1, unitPrice: 1 });
    const response = await post("/products", body, { "Content-Type": "application/json" });
    expect(response.status).toBe(413);
    expect(await problemOf(response)).toMatchObject({
      type: `${PROBLEM_BASE}payload-too-large`,
      detail: "the request body exceeds 1024 bytes",
    });
  });

  it("answers 413 for an oversized chunked body with no Content-Length", async () => {
    const chunk = new TextEncoder().encode(`{"name":"${"y".repeat(3000)}"}`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk);
        controller.close();
      },
    });
    const response = await fetch(`${server.base}/products`, {
      method: "POST",
      headers: { Authorization: `Bearer ${seller}`, "Content-Type": "application/json" },
      body: stream,
      duplex: "half",
    });
    expect(response.status).toBe(413);
  });

  it("counts the limit after decompression", async () => {
    const body = gzipSync(JSON.stringify({ name: "z".repeat(5000), capacity: 1, unitPrice: 1 }));
    expect(body.length).toBeLessThan(1024);
    const response = await post("/products", body, { "Content-Type": "application/json", "Content-Encoding": "gzip" });
    expect(response.status).toBe(413);
  });

  it("answers 400 invalid-body for corrupt gzip and 415 for an unknown Content-Encoding", async () => {
    const corrupt = await post("/products", "not gzip at all", { "Content-Type": "application/json", "Content-Encoding": "gzip" });
    expect(corrupt.status).toBe(400);
    expect((await problemOf(corrupt)).type).toBe(`${PROBLEM_BASE}invalid-body`);
    const unknown = await post("/products", "{}", { "Content-Type": "application/json", "Content-Encoding": "zstd-ish" });
    expect(unknown.status).toBe(415);
  });

  it.each([
    ["text/plain", "{}"],
    ["application/x-www-form-urlencoded", "name=x"],
    ["application/xml", "<p/>"],
    ["application/json; charset=utf-16", "{}"],
    ["application/json; charset=iso-8859-1", "{}"],
  ])("answers 415 for %s", async (type, body) => {
    const response = await post("/products", body, { "Content-Type": type });
    expect(response.status).toBe(415);
    expect((await problemOf(response)).type).toBe(`${PROBLEM_BASE}unsupported-media-type`);
  });

  it("accepts JSON declared as UTF-8, in any spelling", async () => {
    for (const type of ["application/json; charset=utf-8", "application/json; charset=UTF-8", "application/json;charset=utf8"]) {
      const response = await post("/products", JSON.stringify({ name: "x", capacity: 1, unitPrice: 1 }), { "Content-Type": type });
      expect(response.status, type).not.toBe(415);
    }
  });

  it("answers 415 for a body without a Content-Type", async () => {
    const response = await fetch(`${server.base}/products`, {
      method: "POST",
      headers: { Authorization: `Bearer ${seller}` },
      body: new Blob(['{"name":"x"}']),
    });
    expect(response.status).toBe(415);
  });

  it("accepts application/json with a charset and +json types", async () => {
    const body = JSON.stringify({ name: "Seat", capacity: 1, unitPrice: 1 });
    expect((await post("/products", body, { "Content-Type": "application/json; charset=utf-8" })).status).toBe(201);
    expect((await post("/products", body, { "Content-Type": "application/vnd.reservations+json" })).status).toBe(201);
  });

  it.each([
    ["truncated", '{"name": "x"'],
    ["trailing comma", '{"name": "x",}'],
    ["a bare string", '"hello"'],
    ["a number", "42"],
    ["prototype poisoning", '{"name":"x","capacity":1,"unitPrice":1,"__proto__":{"admin":true}}'],
  ])("answers 400 invalid-json for %s", async (_name, body) => {
    const response = await post("/products", body, { "Content-Type": "application/json" });
    expect(response.status).toBe(400);
    expect((await problemOf(response)).type).toBe(`${PROBLEM_BASE}invalid-json`);
  });

  it("answers 400 validation-failed for a JSON array", async () => {
    const response = await post("/products", "[]", { "Content-Type": "application/json" });
    expect(response.status).toBe(400);
    expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}validation-failed`, errors: [{ path: "" }] });
  });

  it("lists every unknown key and every missing field", async () => {
    const response = await post("/products", JSON.stringify({ nam: "typo", extra: 1, capacity: 0 }), {
      "Content-Type": "application/json",
    });
    expect(response.status).toBe(400);
    const problem = await problemOf(response);
    expect(problem.type).toBe(`${PROBLEM_BASE}validation-failed`);
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { path: "nam", message: "unknown field" },
        { path: "extra", message: "unknown field" },
        { path: "name", message: "required" },
        { path: "unitPrice", message: "required" },
        expect.objectContaining({ path: "capacity" }),
      ]),
    );
  });

  it("accepts a command without a body, with an empty JSON body, and with {}", async () => {
    for (const [body, headers] of [
      [undefined, {}],
      ["", { "Content-Type": "application/json" }],
      ["{}", { "Content-Type": "application/json" }],
    ] as const) {
      const reservation = reservationView();
      server.reservations.items.set(reservation.id, reservation);
      const response = await post(`/reservations/${reservation.id}/cancel`, body, headers, customer);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ status: "cancelled" });
    }
  });

  it("refuses unknown keys on a command without fields", async () => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const response = await post(
      `/reservations/${reservation.id}/cancel`,
      '{"force":true}',
      { "Content-Type": "application/json" },
      customer,
    );
    expect(response.status).toBe(400);
    expect((await problemOf(response)).errors).toEqual([{ path: "force", message: "unknown field" }]);
  });

  it("requires the body of a command that has required fields", async () => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const response = await post(`/reservations/${reservation.id}/progress`, undefined, {}, seller);
    expect(response.status).toBe(400);
    expect((await problemOf(response)).errors).toEqual([{ path: "step", message: "required" }]);
  });
});
