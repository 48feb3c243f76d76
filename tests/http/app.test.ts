import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PROBLEM_BASE, problemOf, startTestServer, type TestServer } from "./support.js";

describe("the app's cross-cutting behaviour", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it("sets security headers and no-store on every answer, problems included", async () => {
    for (const response of [await server.request("/health/live"), await server.request("/nowhere")]) {
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
      expect(response.headers.get("referrer-policy")).toBe("no-referrer");
      expect(response.headers.has("x-powered-by")).toBe(false);
    }
  });

  it("echoes a plain X-Request-Id and replaces one that could inject", async () => {
    const echoed = await server.request("/health/live", { headers: { "X-Request-Id": "abc-123" } });
    expect(echoed.headers.get("x-request-id")).toBe("abc-123");
    const replaced = await server.request("/health/live", { headers: { "X-Request-Id": "evil value\twith tab" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const generated = await server.request("/health/live");
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("logs one access line per request without headers, query or body", async () => {
    const token = await server.token("seller");
    await server.request("/products?secret=query-value", {
      method: "POST",
      token,
      headers: { "X-Request-Id": "log-check" },
      json: { name: "Body secret", capacity: 1, unitPrice: 1 },
    });
    const lines = server.logs.filter((line) => line.requestId === "log-check");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ msg: "request", method: "POST", path: "/products", status: 201, requestId: "log-check" });
    expect(typeof lines[0]?.ms).toBe("number");
    const text = JSON.stringify(lines);
    expect(text).not.toContain(token);
    expect(text).not.toContain("query-value");
    expect(text).not.toContain("Body secret");
  });

  it("answers unknown routes with a 404 problem", async () => {
    const response = await server.request("/products/0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10/nope");
    expect(response.status).toBe(404);
    expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}not-found`, status: 404 });
  });

  it("answers a wrong method with a 405 problem and Allow", async () => {
    const response = await server.request("/products", { method: "PUT" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toContain("POST");
    expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}method-not-allowed`, status: 405 });
  });

  it("answers an unknown method with a 501 problem", async () => {
    const response = await server.request("/products", { method: "PROPFIND" });
    expect(response.status).toBe(501);
    expect((await problemOf(response)).type).toBe(`${PROBLEM_BASE}not-implemented`);
  });

  it("answers OPTIONS with Allow", async () => {
    const response = await server.request("/reservations/0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10/cancel", { method: "OPTIONS" });
    expect(response.status).toBe(200);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("serves liveness", async () => {
    const response = await server.request("/health/live");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("serves readiness: 200 when all is up, 503 with what is down, 503 when the probe throws", async () => {
    server.readiness.state = { eventstore: { up: true }, redis: { up: true } };
    const ready = await server.request("/health/ready");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ok", dependencies: { eventstore: { up: true }, redis: { up: true } } });

    server.readiness.state = { eventstore: { up: true }, redis: { up: false, detail: "ECONNREFUSED" } };
    const down = await server.request("/health/ready");
    expect(down.status).toBe(503);
    expect(down.headers.get("retry-after")).not.toBeNull();
    expect(await down.json()).toEqual({
      status: "unavailable",
      dependencies: { eventstore: { up: true }, redis: { up: false, detail: "ECONNREFUSED" } },
    });

    server.readiness.failure = new Error("probe exploded");
    const broken = await server.request("/health/ready");
    expect(broken.status).toBe(503);
    expect(await broken.text()).not.toContain("exploded");
    server.readiness.failure = undefined;
  });
});
