/**
 * SIGTERM during a load of reservations, to a real `node --import tsx src/main.ts`: every request
 * gets an answer that is 2xx, 4xx or 503 (never a 500, never a connection cut mid-request), nothing
 * is logged as an error, and the process exits 0. Once with a grace period long enough for the
 * requests in flight to finish, once with none, so that the 503 path for requests that cannot finish
 * is exercised too.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/http/auth.js";
import { freePort, killAllChildren, spawnService, type ServiceChild } from "../crash/processes.js";

const SECRET = "shutdown-test-secret-0123456789abcdef";
const CLIENTS = 24;
const directories: string[] = [];

afterAll(() => {
  killAllChildren();
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

type Outcome = { readonly status: number; readonly type?: string } | { readonly error: string };

const networkCode = (error: unknown): string => {
  const cause = (error as { cause?: { code?: unknown } }).cause;
  return typeof cause?.code === "string" ? cause.code : String(error);
};

const startService = async (graceMs: number): Promise<{ service: ServiceChild; url: string }> => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "shutdown-"));
  directories.push(dataDir);
  const service = spawnService("all", {
    DATA_DIR: dataDir,
    PORT: "0",
    EMBEDDED_EVENTSTORE_PORT: String(await freePort()),
    EVENTSTORE_URL: "",
    AUTH_SECRET: SECRET,
    READ_MODEL_KEY_ROOT: `test:shutdown:${randomUUID()}`,
    SHUTDOWN_GRACE_MS: String(graceMs),
    // Every request queues rather than being shed, so that many are in flight at the signal.
    ADMISSION_MAX_IN_FLIGHT: "8",
    ADMISSION_QUEUE_TIMEOUT_MS: "5000",
  });
  const url = await service.ready;
  if (url === undefined) throw new Error("the service did not log its URL");
  return { service, url };
};

/** Loops of reservations until the service says it is stopping or stops listening. */
const runLoad = async (url: string, productId: string, until: Promise<void>) => {
  const outcomes: Outcome[] = [];
  const tokens = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => signToken(SECRET, { sub: `shutdown-customer-${i}`, role: "customer", ttlSeconds: 600 })),
  );
  let deadlinePassed = false;
  void until.then(() => setTimeout(() => (deadlinePassed = true), 20_000).unref());
  const loop = async (token: string): Promise<void> => {
    while (!deadlinePassed) {
      try {
        const response = await fetch(`${url}/reservations`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ productId, quantity: 1 }),
        });
        const body = (await response.json().catch(() => ({}))) as { type?: string };
        outcomes.push({ status: response.status, ...(body.type === undefined ? {} : { type: body.type }) });
        if (response.status === 503 && body.type?.endsWith("service-stopping")) return;
      } catch (error) {
        const code = networkCode(error);
        outcomes.push({ error: code });
        return;
      }
    }
  };
  await Promise.all(tokens.map(loop));
  return { outcomes, endedByDeadline: deadlinePassed };
};

const shutDownUnderLoad = async (graceMs: number) => {
  const { service, url } = await startService(graceMs);
  const seller = await signToken(SECRET, { sub: "shutdown-seller", role: "seller", ttlSeconds: 600 });
  const created = await fetch(`${url}/products`, {
    method: "POST",
    headers: { authorization: `Bearer ${seller}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "shutdown seats", capacity: 100_000, unitPrice: 0 }),
  });
  expect(created.status).toBe(201);
  const { id: productId } = (await created.json()) as { id: string };

  let signalled!: () => void;
  const signalSent = new Promise<void>((resolve) => (signalled = resolve));
  const load = runLoad(url, productId, signalSent);
  // Let the load build up, then signal while requests are in flight.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const signalledAt = Date.now();
  service.child.kill("SIGTERM");
  signalled();
  const { outcomes, endedByDeadline } = await load;
  const exit = await Promise.race([service.exited, new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 30_000))]);
  return { service, outcomes, exit, endedByDeadline, stoppedInMs: Date.now() - signalledAt };
};

const summarize = (outcomes: readonly Outcome[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const outcome of outcomes) {
    const key = "error" in outcome ? outcome.error : String(outcome.status);
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
};

const expectCleanShutdown = (result: Awaited<ReturnType<typeof shutDownUnderLoad>>): void => {
  const { service, outcomes, exit } = result;
  const counts = summarize(outcomes);
  const context = `${JSON.stringify(counts)}, stopped in ${result.stoppedInMs} ms\n${service.tail(40)}`;
  expect(exit, context).toEqual({ code: 0, signal: null });
  // Every client was told (503) or refused: none kept being served until it gave up.
  expect(result.endedByDeadline, context).toBe(false);
  expect(outcomes.filter((o) => "status" in o).length, context).toBeGreaterThan(CLIENTS);
  expect(
    outcomes.some((o) => "status" in o && o.status === 201),
    context,
  ).toBe(true);
  // Every answer is a success, a refusal, or "stopping"; a request that got no answer was never
  // accepted (the listener was closed), not cut off.
  const bad = outcomes.filter((o) => ("status" in o ? o.status >= 500 && o.status !== 503 : o.error !== "ECONNREFUSED"));
  expect(bad, context).toEqual([]);
  expect(
    outcomes.every(
      (o) => !("status" in o) || o.status < 500 || o.type?.endsWith("service-stopping") || o.type?.endsWith("service-unavailable"),
    ),
    context,
  ).toBe(true);
  const errors = service.problems.filter((line) => typeof line.level === "number" && line.level >= 50);
  expect(errors, context).toEqual([]);
  expect(
    service.lines.some((line) => line.includes("unhandled error")),
    context,
  ).toBe(false);
};

describe("SIGTERM under load", () => {
  it("requests in flight finish, later ones get 503, the process exits 0", async () => {
    const result = await shutDownUnderLoad(10_000);
    expectCleanShutdown(result);
    // Nothing waited out the grace period: the requests in flight finished well within it.
    expect(result.stoppedInMs).toBeLessThan(10_000);
    expect(
      result.service.lines.some((line) => line.includes("answered 503")),
      result.service.tail(40),
    ).toBe(false);
  }, 120_000);

  it("with no grace period, the requests that cannot finish are answered 503, never 500", async () => {
    const result = await shutDownUnderLoad(0);
    expectCleanShutdown(result);
    // With no time to finish, at least one request in flight had to be cut short and answered 503.
    const cutShort = result.service.lines.some((line) => line.includes("answered 503"));
    expect(cutShort, result.service.tail(40)).toBe(true);
  }, 120_000);
});
