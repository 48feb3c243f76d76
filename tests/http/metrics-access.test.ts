/**
 * `/metrics` was open to anyone who could reach the API. It describes the service's load and
 * internals: loopback only by default, a bearer token (METRICS_TOKEN) when it must be scraped
 * from elsewhere.
 */
import { afterEach, describe, expect, it } from "vitest";
import { mayReadMetrics } from "../../src/http/routes/metrics.js";
import { type TestServer, PROBLEM_BASE, problemOf, startTestServer } from "./support.js";

const TOKEN = "metrics-token-for-the-tests-0123456789";

describe("who may read /metrics", () => {
  it("without a token: loopback clients only", () => {
    for (const address of ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
      expect(mayReadMetrics(address, "", {}), address).toBe(true);
    for (const address of ["10.0.0.5", "192.168.1.20", "::ffff:10.0.0.5", "2001:db8::1", ""])
      expect(mayReadMetrics(address, "", {}), address).toBe(false);
  });

  it("with a token: whoever presents it, from anywhere, and nobody else (not even loopback)", () => {
    expect(mayReadMetrics("10.0.0.5", `Bearer ${TOKEN}`, { token: TOKEN })).toBe(true);
    expect(mayReadMetrics("127.0.0.1", "", { token: TOKEN })).toBe(false);
    expect(mayReadMetrics("127.0.0.1", `Bearer ${TOKEN}x`, { token: TOKEN })).toBe(false);
    expect(mayReadMetrics("127.0.0.1", `Basic ${TOKEN}`, { token: TOKEN })).toBe(false);
  });
});

describe("GET /metrics over HTTP", () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it("serves loopback clients when no token is configured", async () => {
    server = await startTestServer();
    const response = await server.request("/metrics");
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("http_commands_in_flight");
  });

  it("with METRICS_TOKEN: 403 problem without it, 200 with it", async () => {
    server = await startTestServer({ METRICS_TOKEN: TOKEN });
    const refused = await server.request("/metrics");
    expect(refused.status).toBe(403);
    expect((await problemOf(refused)).type).toBe(`${PROBLEM_BASE}forbidden`);
    const served = await server.request("/metrics", { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(served.status).toBe(200);
  });
});
