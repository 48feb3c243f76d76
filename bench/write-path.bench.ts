/**
 * The write path as a client sees it: POST /reservations over HTTP against the service running as
 * its own process (`node dist/src/main.js`, built first, embedded EventStoreDB on a durable temporary
 * data directory — what `npm start` runs). Prints figures; asserts nothing. `npm run bench` reports
 * the uncontended and hot-product figures next to the bare-Koa limit; this one also covers long streams.
 *
 *   npx tsx bench/write-path.bench.ts [--duration 15] [--concurrency 32] [--products 200]
 *        [--big 100000] [--batch 1000] [--samples 300] [--role api|all] [--log-level warn] [--memory]
 *
 * Scenarios:
 *  1. uncontended: `--concurrency` clients reserve 1 unit each, round-robin over `--products`
 *     products of large capacity, for `--duration` seconds;
 *  2. hot product: the same load, all on one product (every command on one stream);
 *  3. long stream: a product whose stream already holds `--big` `UnitsHeld` events (appended in
 *     batches straight to the event store, with the domain's event shapes and metadata), versus a
 *     new product: the first (cold: the whole stream is read) request, then `--samples` sequential
 *     requests for p50/p99.
 * The default run takes about a minute and a half; every size is a flag.
 */
import { TEST_REDIS_URL } from "../tests/support/redis-url.js";
import { exitOnHelp } from "../scripts/lib/help.js";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { EventStoreDBClient, jsonEvent } from "@eventstore/db-client";
import type { EventMetadata } from "../src/core/event-metadata.js";
import { SCHEMA_VERSION } from "../src/core/event-metadata.js";
import type { ProductEventData } from "../src/domain/product/events.js";
import { signToken } from "../src/http/auth.js";
import { freePort } from "../tests/support/free-port.js";
import { buildService, startCompiledService, type ChildService } from "./lib/processes.js";
import { percentile } from "./lib/percentile.js";

exitOnHelp(`
usage: npm run bench:write-path -- [--duration 15] [--concurrency 32] [--products 200] [--big 100000]
         [--batch 1000] [--samples 300] [--role api|all] [--log-level warn] [--memory]

POST /reservations over HTTP against the compiled service: reservations/s, p50/p99, and 100,000-event streams.
`);

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "15" },
    concurrency: { type: "string", default: "32" },
    products: { type: "string", default: "200" },
    big: { type: "string", default: "100000" },
    batch: { type: "string", default: "1000" },
    samples: { type: "string", default: "300" },
    role: { type: "string", default: "api" },
    "log-level": { type: "string", default: "warn" },
    memory: { type: "boolean", default: false },
  },
});
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
const productCount = Number(values.products);
const bigEvents = Number(values.big);
const batchSize = Number(values.batch);
const samples = Number(values.samples);
const role = values.role;
const logLevel = values["log-level"];
if (![durationMs, concurrency, productCount, bigEvents, batchSize, samples].every((n) => Number.isFinite(n) && n >= 0)) {
  throw new Error("every size flag takes a non-negative number");
}
if (role !== "api" && role !== "all") throw new Error("--role is api or all");

const SECRET = `bench-${randomUUID()}`;
const CAPACITY = 1_000_000;

// ---- the service under test ----

const dataDir = values.memory ? undefined : mkdtempSync(join(tmpdir(), "write-path-bench-"));
const esPort = await freePort();
const env: NodeJS.ProcessEnv = {
  EMBEDDED_EVENTSTORE_PORT: String(esPort),
  AUTH_SECRET: SECRET,
  LOG_LEVEL: logLevel,
  ROLE: role,
  // Fifty simulated customers place thousands: the hoarding cap would refuse them.
  MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
  REDIS_URL: TEST_REDIS_URL,
  NODE_ENV: "production",
  EVENTSTORE_URL: "",
  ...(dataDir === undefined ? {} : { DATA_DIR: dataDir }),
};
if (dataDir === undefined) {
  // main.ts has no in-memory switch: a memory run uses a throwaway directory on tmpfs when there is one.
  env.DATA_DIR = mkdtempSync(join("/dev/shm", "write-path-bench-"));
}
const startedAt = performance.now();
let app: ChildService | undefined;
let client: EventStoreDBClient | undefined;

const rssOf = (pid: number | undefined): string => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return `${Math.round(kb / 1024)} MiB`;
  } catch {
    return "n/a";
  }
};

/** Runs `work` and tells how busy the service process was meanwhile (100% = one core). */
const withCpu = async <T extends object>(work: () => Promise<T>): Promise<T & { cpu: number }> => {
  const cpuBefore = app?.cpuSeconds() ?? Number.NaN;
  const started = performance.now();
  const result = await work();
  const cpu = (((app?.cpuSeconds() ?? Number.NaN) - cpuBefore) / ((performance.now() - started) / 1000)) * 100;
  return { ...result, cpu };
};

// ---- HTTP driver ----

interface Outcome {
  readonly status: number;
  readonly ms: number;
}

const seller = await signToken(SECRET, { sub: "bench-seller", role: "seller", ttlSeconds: 3600 });
const customers = await Promise.all(
  Array.from({ length: 50 }, (_, i) => signToken(SECRET, { sub: `bench-customer-${i}`, role: "customer", ttlSeconds: 3600 })),
);
let firstUnexpected: string | undefined;

const call = async (path: string, token: string, json: unknown): Promise<Outcome & { body: Record<string, unknown> }> => {
  const started = performance.now();
  const response = await fetch(`${app?.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(json),
    signal: AbortSignal.timeout(30_000),
  }).catch((error: unknown) => {
    firstUnexpected ??= `network error: ${String(error)}`;
    return undefined;
  });
  if (response === undefined) return { status: 0, ms: performance.now() - started, body: {} };
  const text = await response.text();
  const ms = performance.now() - started;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  if (response.status >= 500 && response.status !== 503) firstUnexpected ??= `${response.status} ${text.slice(0, 300)}`;
  return { status: response.status, ms, body };
};

const reserve = (productId: string, i: number) => call("/reservations", customers[i % customers.length] ?? "", { productId, quantity: 1 });

const registerProduct = async (name: string): Promise<string> => {
  const response = await call("/products", seller, { name, capacity: CAPACITY, unitPrice: 1000 });
  if (response.status !== 201) throw new Error(`registering a product answered ${response.status}: ${JSON.stringify(response.body)}`);
  return String(response.body.id);
};

/** Thrown by a request function to end its client's loop early. */
class Done extends Error {}

/** `workers` clients, each sending its next request as soon as the last is answered, until `until` (or `Done`). */
const drive = async (
  workers: number,
  until: number,
  request: (i: number) => Promise<Outcome>,
): Promise<{ outcomes: Outcome[]; ms: number }> => {
  const outcomes: Outcome[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < until) {
        try {
          outcomes.push(await request(next++));
        } catch (error) {
          if (error instanceof Done) return;
          throw error;
        }
      }
    }),
  );
  return { outcomes, ms: performance.now() - started };
};

interface Row {
  readonly scenario: string;
  readonly outcomes: readonly Outcome[];
  /** Wall time of the run, for the rate; undefined for sequential latency runs. */
  readonly ms?: number;
  /** CPU use of the service process during the run, % of one core. */
  readonly cpu?: number;
  readonly note?: string;
}
const rows: Row[] = [];

const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : "-");

const printTable = (): void => {
  const header = ["scenario", "requests", "201", "409", "503", "other", "req/s", "p50 ms", "p99 ms", "max ms", "svc CPU"];
  const lines = rows.map((row) => {
    const latencies = row.outcomes.map((o) => o.ms).sort((a, b) => a - b);
    const count = (status: number) => row.outcomes.filter((o) => o.status === status).length;
    const other = row.outcomes.length - count(201) - count(409) - count(503);
    return [
      row.scenario,
      String(row.outcomes.length),
      String(count(201)),
      String(count(409)),
      String(count(503)),
      String(other),
      row.ms === undefined ? "-" : fmt((row.outcomes.length / row.ms) * 1000, 0),
      fmt(percentile(latencies, 50)),
      fmt(percentile(latencies, 99)),
      fmt(latencies.at(-1) ?? Number.NaN),
      row.cpu === undefined ? "-" : `${fmt(row.cpu, 0)}%`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => (line[i] ?? "").length)));
  const render = (cells: readonly string[]) =>
    cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join("  ");
  console.log(`\n${render(header)}\n${widths.map((w) => "-".repeat(w)).join("  ")}`);
  for (const line of lines) console.log(render(line));
  for (const row of rows) if (row.note) console.log(`  ${row.scenario}: ${row.note}`);
};

// ---- the long stream, written the way the product aggregate writes it ----

const appendHolds = async (productId: string, count: number): Promise<number> => {
  if (!client) throw new Error("no event store client");
  const stream = `product-${productId}`;
  let revision = 0n; // ProductRegistered
  const started = performance.now();
  const heldAt = new Date();
  const expiresAt = new Date(heldAt.getTime() + 900_000).toISOString();
  for (let written = 0; written < count;) {
    const size = Math.min(batchSize, count - written);
    const causationId = randomUUID();
    const events = Array.from({ length: size }, () => {
      const reservationId = randomUUID();
      const data: ProductEventData<"UnitsHeld"> = { reservationId, quantity: 1, heldAt: heldAt.toISOString(), expiresAt };
      const metadata: EventMetadata = {
        $correlationId: reservationId,
        $causationId: causationId,
        actor: { id: "bench-customer-0", role: "customer" },
        schemaVersion: SCHEMA_VERSION,
      };
      return jsonEvent({ type: "UnitsHeld", data, metadata });
    });
    const result = await client.appendToStream(stream, events, { expectedRevision: revision });
    revision = result.nextExpectedRevision;
    written += size;
  }
  return performance.now() - started;
};

const sequential = async (productId: string, count: number, offset: number): Promise<Outcome[]> => {
  const outcomes: Outcome[] = [];
  for (let i = 0; i < count; i += 1) outcomes.push(await reserve(productId, offset + i));
  return outcomes;
};

// ---- run ----

try {
  buildService();
  app = await startCompiledService({ env, timeoutMs: 120_000 });
  client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${esPort}?tls=false`);
  console.log(
    `write path over HTTP: service as a child process (ROLE=${role}, LOG_LEVEL=${logLevel}), embedded EventStoreDB ` +
      `${values.memory ? `on tmpfs (${env.DATA_DIR})` : "durable (temp data dir)"}, node ${process.version}, ${cpus().length} CPUs; ` +
      `driver: Node fetch, ${concurrency} concurrent clients; load average ${loadavg()
        .map((n) => n.toFixed(1))
        .join(" ")}; ` +
      `started in ${fmt(performance.now() - startedAt, 0)} ms`,
  );

  // Setup: products of large capacity (also a figure: registration throughput).
  const productIds: string[] = [];
  let registered = 0;
  const registration = await withCpu(() =>
    drive(Math.min(concurrency, 16), Number.POSITIVE_INFINITY, async () => {
      const index = registered++;
      if (index >= productCount) throw new Done();
      const started = performance.now();
      productIds.push(await registerProduct(`bench product ${index}`));
      return { status: 201, ms: performance.now() - started };
    }),
  );
  rows.push({ scenario: `register products (POST /products), c=${Math.min(concurrency, 16)}`, ...registration });

  // Warm-up: a few requests so that JIT and connections are in place.
  const warmProduct = await registerProduct("warm-up");
  await drive(Math.min(concurrency, 8), performance.now() + 1500, (i) => reserve(warmProduct, i));

  // 1. uncontended
  const uncontended = await withCpu(() =>
    drive(concurrency, performance.now() + durationMs, (i) => reserve(productIds[i % productIds.length] ?? "", i)),
  );
  rows.push({ scenario: `uncontended (${productIds.length} products), c=${concurrency}`, ...uncontended });

  // 2. hot product
  const hot = await registerProduct("hot");
  const hotRun = await withCpu(() => drive(concurrency, performance.now() + durationMs, (i) => reserve(hot, i)));
  rows.push({ scenario: `hot product (1 stream), c=${concurrency}`, ...hotRun });

  // 3. long stream versus new stream
  if (bigEvents > 0) {
    const big = await registerProduct("long stream");
    const rssBefore = rssOf(app.child.pid);
    const buildMs = await appendHolds(big, bigEvents);
    const cold = await withCpu(async () => ({ outcome: await reserve(big, 0) }));
    const rssAfter = rssOf(app.child.pid);
    // Where the cold time goes: the same read through the client alone, without decoding or folding.
    const readStarted = performance.now();
    let read = 0;
    for await (const resolved of client.readStream(`product-${big}`)) if (resolved.event) read += 1;
    const readMs = performance.now() - readStarted;
    rows.push({
      scenario: `${bigEvents.toLocaleString("en-US")}-event stream: first request (cold)`,
      outcomes: [cold.outcome],
      cpu: cold.cpu,
      note:
        `stream built in ${fmt(buildMs / 1000)} s (${batchSize}-event appends); the bench's own client reads its ${read.toLocaleString("en-US")} ` +
        `events in ${fmt(readMs / 1000)} s; service RSS ${rssBefore} before, ${rssAfter} after loading it`,
    });
    const warm = await withCpu(async () => ({ outcomes: await sequential(big, samples, 1) }));
    rows.push({ scenario: `${bigEvents.toLocaleString("en-US")}-event stream: then ${samples} sequential`, ...warm });
  }
  const fresh = await registerProduct("new stream");
  rows.push({ scenario: "new stream: first request", outcomes: [await reserve(fresh, 0)] });
  const freshRun = await withCpu(async () => ({ outcomes: await sequential(fresh, samples, 1) }));
  rows.push({ scenario: `new stream: then ${samples} sequential`, ...freshRun });

  printTable();
  if (firstUnexpected) console.log(`\nfirst unexpected answer: ${firstUnexpected}`);
  console.log(`\ntotal ${fmt((performance.now() - startedAt) / 1000)} s`);
} finally {
  await Promise.race([client?.dispose(), new Promise((resolve) => setTimeout(resolve, 3000))]);
  await app?.stop();
  for (const dir of [dataDir, values.memory ? env.DATA_DIR : undefined]) if (dir) rmSync(dir, { recursive: true, force: true });
}
