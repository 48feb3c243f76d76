/**
 * Projection lag: how long after `POST /reservations` answers 201 does the reservation show up in
 * `GET /my-page` (the read model in Redis, fed by the `projection-mypage` persistent subscription)?
 * Prints figures; asserts nothing.
 *
 *   npx tsx bench/projection-lag.bench.ts [--rate 25] [--duration 60] [--customers 25] [--pollers 4]
 *        [--poll-interval 20] [--token tok_ok] [--drain 30] [--in-process] [--log-level warn]
 *
 * - The service runs as its own process (`node --import tsx src/main.ts`, ROLE=all, what `npm start`
 *   runs) on a durable temporary data dir, the real Redis (REDIS_URL, default 127.0.0.1:6379) and a
 *   key root of its own (deleted at the end, with the data dir). `--in-process` runs it inside this
 *   process instead (the load generator then shares its event loop).
 * - Open-loop load: `--rate` reservations per second for `--duration` seconds, spread round-robin
 *   over `--customers` customers (one product of large capacity), each request fired on schedule
 *   whether or not the previous ones have answered.
 * - `--pollers` pollers share the customers; each polls `GET /my-page` of its customers that have
 *   reservations not seen yet, every `--poll-interval` ms. A reservation counts as visible when an
 *   answer holds it with status `placed` or `confirmed` (or any later one). Lag = time the answer
 *   arrived − time the 201 arrived (an upper bound; resolution ≈ poll interval + one request), and
 *   also − the reservation's `createdAt` (the server's clock when it decided the command).
 * - At the end it prints `subscription_lag_seconds` (append → handled, per consumer group) from
 *   `GET /metrics` and how many deliveries were retried or parked.
 * The default run takes about 80 s; every size is a flag.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { signToken } from "../src/http/auth.js";
import { deleteKeysUnder, SHARED_REDIS_URL, sleep, startScenario, uniqueKeyRoot } from "../tests/scenarios/harness.js";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "25" },
    duration: { type: "string", default: "60" },
    customers: { type: "string", default: "25" },
    pollers: { type: "string", default: "4" },
    "poll-interval": { type: "string", default: "20" },
    token: { type: "string" },
    drain: { type: "string", default: "30" },
    "in-process": { type: "boolean", default: false },
    "log-level": { type: "string", default: "warn" },
  },
});
const rate = Number(values.rate);
const durationS = Number(values.duration);
const customerCount = Number(values.customers);
const pollerCount = Number(values.pollers);
const pollIntervalMs = Number(values["poll-interval"]);
const drainS = Number(values.drain);
if (![rate, durationS, customerCount, pollerCount, pollIntervalMs, drainS].every((n) => Number.isFinite(n) && n > 0)) {
  throw new Error("--rate, --duration, --customers, --pollers, --poll-interval and --drain take positive numbers");
}
const paymentToken = values.token;
const ROOT = join(fileURLToPath(new URL(".", import.meta.url)), "..");
const SECRET = `bench-${randomUUID()}`;
const REDIS_URL = SHARED_REDIS_URL;

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

interface Target {
  readonly url: string;
  readonly keyRoot: string;
  stop(): Promise<void>;
}

/** The service as `npm start` runs it, in a child process. */
async function startChild(dataDir: string): Promise<Target> {
  const port = await freePort();
  const keyRoot = uniqueKeyRoot("bench-lag");
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      EMBEDDED_EVENTSTORE_PORT: "0",
      DATA_DIR: dataDir,
      REDIS_URL,
      READ_MODEL_KEY_ROOT: keyRoot,
      AUTH_SECRET: SECRET,
      ROLE: "all",
      LOG_LEVEL: values["log-level"],
      // The bench fires its own load; do not let admission control shed it at modest rates.
      ADMISSION_MAX_QUEUED: "10000",
      ADMISSION_QUEUE_TIMEOUT_MS: "5000",
    },
  });
  child.stdout?.on("data", (chunk: Buffer) => process.stderr.write(`[service] ${chunk.toString()}`));
  child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`[service] ${chunk.toString()}`));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the service exited with ${child.exitCode}`);
    const ready = await fetch(`${url}/health/ready`).then((response) => response.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error("the service did not become ready within 60 s");
    await sleep(200);
  }
  return {
    url,
    keyRoot,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
        await exited;
        clearTimeout(timer);
      }
      await deleteKeysUnder(REDIS_URL, keyRoot);
    },
  };
}

async function startInProcess(dataDir: string): Promise<Target & { secret: string }> {
  const scenario = await startScenario({
    label: "bench-lag",
    dataDir,
    env: { LOG_LEVEL: values["log-level"], ADMISSION_MAX_QUEUED: "10000", ADMISSION_QUEUE_TIMEOUT_MS: "5000" },
  });
  return { url: scenario.url, keyRoot: scenario.keyRoot, secret: scenario.authSecret, stop: () => scenario.stop() };
}

const percentile = (sorted: readonly number[], p: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
};

const summary = (label: string, samples: readonly number[]): string => {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1).padStart(8) : "       -");
  return `${label.padEnd(34)} n=${String(sorted.length).padStart(6)}  p50 ${f(percentile(sorted, 50))} ms  p90 ${f(percentile(sorted, 90))} ms  p99 ${f(percentile(sorted, 99))} ms  max ${f(sorted.at(-1) ?? Number.NaN)} ms  mean ${f(mean)} ms`;
};

interface Histogram {
  readonly buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}

/** `subscription_lag_seconds` per group from Prometheus text. */
const parseLagHistograms = (text: string): Map<string, Histogram> => {
  const groups = new Map<string, Histogram>();
  const of = (group: string): Histogram => {
    let histogram = groups.get(group);
    if (!histogram) {
      histogram = { buckets: [], sum: 0, count: 0 };
      groups.set(group, histogram);
    }
    return histogram;
  };
  for (const line of text.split("\n")) {
    const match = /^subscription_lag_seconds_(bucket|sum|count)\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const [, kind = "", labels = "", value = "0"] = match;
    const group = /group="([^"]*)"/.exec(labels)?.[1] ?? "?";
    const histogram = of(group);
    if (kind === "bucket") {
      const le = /le="([^"]*)"/.exec(labels)?.[1] ?? "+Inf";
      histogram.buckets.push({ le: le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le), count: Number(value) });
    } else if (kind === "sum") histogram.sum = Number(value);
    else histogram.count = Number(value);
  }
  return groups;
};

/** The upper bound of the bucket holding the p-th percentile ("≤ x s"). */
const bucketPercentile = (histogram: Histogram, p: number): string => {
  const target = (p / 100) * histogram.count;
  const bucket = [...histogram.buckets].sort((a, b) => a.le - b.le).find((entry) => entry.count >= target);
  return bucket === undefined ? "-" : bucket.le === Number.POSITIVE_INFINITY ? "> 60 s" : `≤ ${bucket.le * 1000} ms`;
};

const handledOutcomes = (text: string): Map<string, Record<string, number>> => {
  const out = new Map<string, Record<string, number>>();
  for (const line of text.split("\n")) {
    const match = /^subscription_events_handled_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!match) continue;
    const group = /group="([^"]*)"/.exec(match[1] ?? "")?.[1] ?? "?";
    const outcome = /outcome="([^"]*)"/.exec(match[1] ?? "")?.[1] ?? "?";
    const record = out.get(group) ?? {};
    record[outcome] = Number(match[2]);
    out.set(group, record);
  }
  return out;
};

const VISIBLE = new Set(["placed", "confirmed", "awaiting-acceptance", "in-progress", "in-use", "completed", "cancelled", "expired", "rejected"]);

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "projection-lag-"));
  const total = Math.round(rate * durationS);
  process.stderr.write(
    `projection lag: ${rate}/s for ${durationS} s (${total} reservations), ${customerCount} customers, ${pollerCount} pollers every ${pollIntervalMs} ms, ` +
      `${paymentToken ? `token ${paymentToken}` : "no token"}, service ${values["in-process"] ? "in process" : "as a child process"}\n`,
  );
  const target = values["in-process"] ? await startInProcess(dataDir) : await startChild(dataDir);
  const secret = "secret" in target ? (target.secret as string) : SECRET;
  try {
    const seller = await signToken(secret, { sub: "bench-seller", role: "seller", ttlSeconds: 3600 });
    const customers = await Promise.all(
      Array.from({ length: customerCount }, async (_, i) => {
        const sub = `bench-customer-${i}`;
        return { sub, token: await signToken(secret, { sub, role: "customer", ttlSeconds: 3600 }) };
      }),
    );
    const created = await fetch(`${target.url}/products`, {
      method: "POST",
      headers: { authorization: `Bearer ${seller}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "Bench arena", capacity: 1_000_000, unitPrice: 1000 }),
    });
    if (created.status !== 201) throw new Error(`could not register the product: ${created.status} ${await created.text()}`);
    const product = (await created.json()) as { id: string };

    /** Per customer: reservation id → when its 201 arrived and its createdAt. */
    const pending = customers.map(() => new Map<string, { answeredAt: number; createdAt: number }>());
    const fromAnswer: number[] = [];
    const fromCreated: number[] = [];
    const writeLatency: number[] = [];
    const failures = new Map<string, number>();
    let polls = 0;
    let loadDone = false;

    const place = async (i: number): Promise<void> => {
      const c = i % customerCount;
      const customer = customers[c];
      if (!customer) return;
      const started = performance.now();
      try {
        const response = await fetch(`${target.url}/reservations`, {
          method: "POST",
          headers: { authorization: `Bearer ${customer.token}`, "content-type": "application/json" },
          body: JSON.stringify({ productId: product.id, quantity: 1, ...(paymentToken ? { paymentToken } : {}) }),
          signal: AbortSignal.timeout(30_000),
        });
        const answeredAt = Date.now();
        const body = (await response.json()) as { id?: string; createdAt?: string };
        writeLatency.push(performance.now() - started);
        if (response.status !== 201 || body.id === undefined) {
          failures.set(String(response.status), (failures.get(String(response.status)) ?? 0) + 1);
          return;
        }
        pending[c]?.set(body.id, { answeredAt, createdAt: Date.parse(body.createdAt ?? "") });
      } catch (error) {
        const key = error instanceof Error ? error.name : "error";
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    };

    const poller = async (p: number): Promise<void> => {
      const mine = customers.map((_, c) => c).filter((c) => c % pollerCount === p);
      while (!loadDone || mine.some((c) => (pending[c]?.size ?? 0) > 0)) {
        let polled = false;
        for (const c of mine) {
          const waiting = pending[c];
          const customer = customers[c];
          if (!waiting || !customer || waiting.size === 0) continue;
          polled = true;
          polls += 1;
          try {
            const response = await fetch(`${target.url}/my-page`, {
              headers: { authorization: `Bearer ${customer.token}` },
              signal: AbortSignal.timeout(10_000),
            });
            const seenAt = Date.now();
            if (response.status !== 200) {
              await response.arrayBuffer();
              continue;
            }
            const page = (await response.json()) as { reservations: Array<{ reservationId: string; reservationStatus: string }> };
            for (const entry of page.reservations) {
              const placed = waiting.get(entry.reservationId);
              if (!placed || !VISIBLE.has(entry.reservationStatus)) continue;
              waiting.delete(entry.reservationId);
              fromAnswer.push(Math.max(0, seenAt - placed.answeredAt));
              if (Number.isFinite(placed.createdAt)) fromCreated.push(Math.max(0, seenAt - placed.createdAt));
            }
          } catch {
            // A slow or failed poll only lowers the resolution.
          }
        }
        await sleep(polled ? pollIntervalMs : Math.max(pollIntervalMs, 10));
      }
    };

    const started = Date.now();
    const pollers = Array.from({ length: pollerCount }, (_, p) => poller(p));
    const requests: Promise<void>[] = [];
    for (let i = 0; i < total; i += 1) {
      const due = started + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      requests.push(place(i));
    }
    await Promise.all(requests);
    const loadMs = Date.now() - started;
    loadDone = true;
    const drained = await Promise.race([Promise.all(pollers).then(() => true), sleep(drainS * 1000).then(() => false)]);
    const unseen = pending.reduce((sum, map) => sum + map.size, 0);
    if (!drained) for (const map of pending) map.clear(); // stops the pollers

    const metrics = await fetch(`${target.url}/metrics`).then((response) => response.text());
    await Promise.all(pollers);

    const placedCount = total - [...failures.values()].reduce((sum, n) => sum + n, 0);
    const lines = [
      "",
      `projection lag (POST /reservations 201 -> visible in GET /my-page), ${new Date().toISOString()}`,
      `  machine: ${cpus().length} CPUs, load ${loadavg().map((n) => n.toFixed(2)).join(" ")}; node ${process.version}`,
      `  load: ${total} requested at ${rate}/s over ${(loadMs / 1000).toFixed(1)} s -> ${placedCount} placed (201), failures ${JSON.stringify(Object.fromEntries(failures))}`,
      `  visible: ${fromAnswer.length} of ${placedCount}${unseen > 0 ? `; ${unseen} NOT seen within the ${drainS} s drain` : ""}; ${polls} polls of /my-page`,
      `  ${summary("POST /reservations latency", writeLatency)}`,
      `  ${summary("lag from the 201", fromAnswer)}`,
      `  ${summary("lag from createdAt (server clock)", fromCreated)}`,
      "",
      "  subscription_lag_seconds (event appended -> handled), from GET /metrics; percentiles are bucket upper bounds:",
    ];
    const outcomes = handledOutcomes(metrics);
    for (const [group, histogram] of [...parseLagHistograms(metrics)].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const mean = histogram.count > 0 ? ((histogram.sum / histogram.count) * 1000).toFixed(1) : "-";
      const outcome = outcomes.get(group) ?? {};
      lines.push(
        `    ${group.padEnd(30)} n=${String(histogram.count).padStart(7)}  mean ${String(mean).padStart(7)} ms  p50 ${bucketPercentile(histogram, 50).padStart(9)}  p99 ${bucketPercentile(histogram, 99).padStart(9)}  retried ${outcome.retried ?? 0}  parked ${outcome.parked ?? 0}`,
      );
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await target.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
