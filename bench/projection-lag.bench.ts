/**
 * Projection lag on its own (`npm run bench` reports the same figures at 70% of the measured
 * maximum): how long after `POST /reservations` answers 201 does the reservation show up in
 * `GET /my-page`? What is measured and how: bench/lib/projection-lag.ts. Prints figures; asserts nothing.
 *
 *   npx tsx bench/projection-lag.bench.ts [--rate 25] [--duration 60] [--customers 25] [--pollers 4]
 *        [--poll-interval 20] [--token tok_ok] [--drain 30] [--in-process] [--log-level warn]
 *
 * The service runs as its own process (`node dist/src/main.js`, ROLE=all, what `npm start` runs,
 * built first) on a durable temporary data dir, a real Redis (REDIS_URL, or the managed one of
 * bench/lib/test-redis.ts)
 * and a key root of its own (deleted at the end, with the data dir). `--in-process` runs it inside
 * this process instead (the load generator then shares its event loop).
 * The default run takes about 80 s; every size is a flag.
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { deleteKeysUnder, SHARED_REDIS_URL, startScenario, uniqueKeyRoot } from "../tests/scenarios/harness.js";
import { ascending, percentile } from "./lib/percentile.js";
import { buildService, startCompiledService } from "./lib/processes.js";
import { measureProjectionLag } from "./lib/projection-lag.js";
import { formatUpperBound } from "./lib/subscription-metrics.js";

exitOnHelp(`
usage: npm run bench:projection-lag -- [--rate 25] [--duration 60] [--customers 25] [--pollers 4]
         [--poll-interval 20] [--token tok_ok] [--drain 30] [--in-process] [--log-level warn]

How long after POST /reservations answers 201 the reservation shows in GET /my-page, p50/p99.
`);

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
const customers = Number(values.customers);
const pollers = Number(values.pollers);
const pollIntervalMs = Number(values["poll-interval"]);
const drainS = Number(values.drain);
if (![rate, durationS, customers, pollers, pollIntervalMs, drainS].every((n) => Number.isFinite(n) && n > 0)) {
  throw new Error("--rate, --duration, --customers, --pollers, --poll-interval and --drain take positive numbers");
}
const logLevel = values["log-level"];
// The bench fires its own load; do not let admission control shed it at modest rates.
const ADMISSION = { ADMISSION_MAX_QUEUED: "10000", ADMISSION_QUEUE_TIMEOUT_MS: "5000" };

interface Target {
  readonly url: string;
  readonly secret: string;
  stop(): Promise<void>;
}

const startChild = async (dataDir: string): Promise<Target> => {
  buildService();
  const secret = `bench-${randomUUID()}`;
  const keyRoot = uniqueKeyRoot("bench-lag");
  const service = await startCompiledService({
    env: {
      DATA_DIR: dataDir,
      REDIS_URL: SHARED_REDIS_URL,
      READ_MODEL_KEY_ROOT: keyRoot,
      AUTH_SECRET: secret,
      ROLE: "all",
      LOG_LEVEL: logLevel,
      MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
      ...ADMISSION,
    },
    waitFor: "ready",
  });
  return {
    url: service.url,
    secret,
    stop: async () => {
      await service.stop();
      await deleteKeysUnder(SHARED_REDIS_URL, keyRoot);
    },
  };
};

const startInProcess = async (dataDir: string): Promise<Target> => {
  const scenario = await startScenario({ label: "bench-lag", dataDir, env: { LOG_LEVEL: logLevel, ...ADMISSION } });
  return { url: scenario.url, secret: scenario.authSecret, stop: () => scenario.stop() };
};

const summary = (label: string, samples: readonly number[]): string => {
  const sorted = ascending(samples);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / Math.max(1, sorted.length);
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(1).padStart(8) : "       -");
  return `${label.padEnd(34)} n=${String(sorted.length).padStart(6)}  p50 ${f(percentile(sorted, 50))} ms  p90 ${f(percentile(sorted, 90))} ms  p99 ${f(percentile(sorted, 99))} ms  max ${f(sorted.at(-1) ?? Number.NaN)} ms  mean ${f(mean)} ms`;
};

const main = async (): Promise<void> => {
  const dataDir = mkdtempSync(join(tmpdir(), "projection-lag-"));
  process.stderr.write(
    `projection lag: ${rate}/s for ${durationS} s (${Math.round(rate * durationS)} reservations), ${customers} customers, ${pollers} pollers every ${pollIntervalMs} ms, ` +
      `${values.token ? `token ${values.token}` : "no token"}, service ${values["in-process"] ? "in process" : "as a child process (dist/src/main.js)"}\n`,
  );
  const target = values["in-process"] ? await startInProcess(dataDir) : await startChild(dataDir);
  try {
    const result = await measureProjectionLag({
      url: target.url,
      secret: target.secret,
      rate,
      durationS,
      customers,
      pollers,
      pollIntervalMs,
      drainS,
      paymentToken: values.token,
    });
    const lines = [
      "",
      `projection lag (POST /reservations 201 -> visible in GET /my-page), ${new Date().toISOString()}`,
      `  machine: ${cpus().length} CPUs, load ${loadavg()
        .map((n) => n.toFixed(2))
        .join(" ")}; node ${process.version}`,
      `  load: ${result.requested} requested at ${rate}/s over ${(result.loadMs / 1000).toFixed(1)} s -> ${result.placed} placed (201), failures ${JSON.stringify(result.failures)}`,
      `  visible: ${result.fromAnswerMs.length} of ${result.placed}${result.unseen > 0 ? `; ${result.unseen} NOT seen within the ${drainS} s drain` : ""}; ${result.polls} polls of /my-page`,
      `  ${summary("POST /reservations latency", result.writeLatencyMs)}`,
      `  ${summary("lag from the 201", result.fromAnswerMs)}`,
      `  ${summary("lag from createdAt (server clock)", result.fromCreatedMs)}`,
      "",
      "  subscription_lag_seconds (event appended -> handled), from GET /metrics; percentiles are bucket upper bounds:",
    ];
    for (const [group, lag] of [...result.groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const mean = lag.count > 0 ? ((lag.sum / lag.count) * 1000).toFixed(1) : "-";
      lines.push(
        `    ${group.padEnd(30)} n=${String(lag.count).padStart(7)}  mean ${String(mean).padStart(7)} ms  p50 ${formatUpperBound(lag.p50UpperS).padStart(13)}  p99 ${formatUpperBound(lag.p99UpperS).padStart(13)}  retried ${lag.outcomes.retried ?? 0}  parked ${lag.outcomes.parked ?? 0}`,
      );
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await target.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
