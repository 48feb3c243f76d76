/**
 * `npm run bench`: the throughput and lag figures of the service, each next to what a bare Koa app
 * does on the same machine in the same run (the limit no Koa service here can pass). Progress goes
 * to stderr, the Markdown table to stdout at the end. Asserts nothing; how to read the table:
 * docs/PERFORMANCE.md.
 *
 *   npm run bench [-- --quick] [--duration 10] [--warmup 3] [--connections 32] [--products 50]
 *                 [--lag-duration 60] [--lag-share 0.7] [--log-level warn]
 *
 * Every service is a fresh child process running the compiled `dist/src/main.js` (what `npm start`
 * runs) with NODE_ENV=production, a durable embedded event store in a temporary DATA_DIR and its own
 * Redis key root (Redis at REDIS_URL, or a throwaway managed one: bench/lib/test-redis.ts). `--quick`
 * takes about two minutes.
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { deleteKeysUnder, SHARED_REDIS_URL, uniqueKeyRoot } from "../tests/scenarios/harness.js";
import { measureEventStore, type EventStoreFigures } from "./lib/eventstore-figures.js";
import { describeStatuses, runLoad, type LoadResult } from "./lib/load.js";
import { markdownTable } from "./lib/markdown-table.js";
import { ascending, percentile } from "./lib/percentile.js";
import { buildService, repoRoot, startBareKoa, startCompiledService } from "./lib/processes.js";
import { measureProjectionLag, type LagResult } from "./lib/projection-lag.js";
import { benchSecret, measureReservations, type ReservationLoadResult, type Role, type Shape } from "./lib/reservation-load.js";

exitOnHelp(`
usage: npm run bench [-- --quick] [--duration 10] [--warmup 3] [--connections 32] [--products 50]
                     [--lag-duration 60] [--lag-share 0.7] [--log-level warn]

Throughput and projection lag of the service next to a bare Koa app on the same machine; progress on
stderr, one Markdown table on stdout. --quick: about 2 minutes. How to read it: docs/PERFORMANCE.md.
`);

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    warmup: { type: "string" },
    connections: { type: "string", default: "32" },
    products: { type: "string", default: "50" },
    "lag-duration": { type: "string" },
    "lag-share": { type: "string", default: "0.7" },
    "log-level": { type: "string", default: "warn" },
  },
});
const quick = values.quick;
const numberFlag = (name: string, text: string | undefined, fallback: number): number => {
  const value = text === undefined ? fallback : Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number`);
  return value;
};
const durationS = numberFlag("duration", values.duration, quick ? 5 : 10);
const warmupS = numberFlag("warmup", values.warmup, quick ? 2 : 3);
const connections = numberFlag("connections", values.connections, 32);
const products = numberFlag("products", values.products, 50);
const lagDurationS = numberFlag("lag-duration", values["lag-duration"], quick ? 20 : 60);
const lagShare = numberFlag("lag-share", values["lag-share"], 0.7);
const logLevel = values["log-level"];

const began = performance.now();
const progress = (message: string): void => {
  process.stderr.write(`[bench ${((performance.now() - began) / 1000).toFixed(0).padStart(4)} s] ${message}\n`);
};

// ---- measurements ----

const measureBareKoa = async (): Promise<LoadResult> => {
  const koa = await startBareKoa();
  try {
    // The same request the service gets (headers included), so that only the work behind it differs.
    const body = JSON.stringify({ productId: "3f1c7c2e-6f0a-4c55-9a3e-0b7f6f1b2c11", quantity: 1 });
    const next = () => ({
      path: "/reservations",
      headers: { authorization: `Bearer ${"x".repeat(180)}`, "content-type": "application/json" },
      body,
    });
    await runLoad({ url: koa.url, connections, durationS: warmupS, next });
    return await runLoad({ url: koa.url, connections, durationS, next });
  } finally {
    await koa.stop();
  }
};

const measureLag = async (rate: number): Promise<LagResult> => {
  const secret = benchSecret();
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-lag-"));
  const keyRoot = uniqueKeyRoot("bench-lag");
  const service = await startCompiledService({
    env: {
      NODE_ENV: "production",
      ROLE: "all",
      LOG_LEVEL: logLevel,
      AUTH_SECRET: secret,
      DATA_DIR: dataDir,
      REDIS_URL: SHARED_REDIS_URL,
      READ_MODEL_KEY_ROOT: keyRoot,
      // A few simulated customers place thousands: the hoarding cap would refuse them.
      MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
      // Open-loop load below the maximum must not be shed by a short admission queue while it bursts.
      ADMISSION_MAX_QUEUED: "10000",
      ADMISSION_QUEUE_TIMEOUT_MS: "5000",
    },
    waitFor: "ready",
    label: "lag ROLE=all",
  });
  try {
    return await measureProjectionLag({
      url: service.url,
      secret,
      rate,
      durationS: lagDurationS,
      customers: 25,
      pollers: 4,
      pollIntervalMs: 20,
      drainS: quick ? 15 : 30,
    });
  } finally {
    await service.stop();
    await deleteKeysUnder(SHARED_REDIS_URL, keyRoot).catch(() => 0);
    rmSync(dataDir, { recursive: true, force: true });
  }
};

// ---- the table ----

const fmt = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : "-");
const ratio = (value: number, reference: number): string =>
  Number.isFinite(value) && Number.isFinite(reference) && reference > 0
    ? `${(value / reference).toFixed(value / reference < 0.1 ? 3 : 2)}×`
    : "-";

interface Row {
  readonly what: string;
  readonly perSecond?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  /** Shown instead of the number when the figure is a bucket bound ("≤ 25"). */
  readonly p50Text?: string;
  readonly p99Text?: string;
  readonly notes: string;
}

const renderTable = (koa: LoadResult, rows: readonly Row[]): string =>
  markdownTable(
    ["measurement", "per s", "÷ Koa", "p50 ms", "÷ Koa", "p99 ms", "÷ Koa", "notes"],
    rows.map((row) => [
      row.what,
      row.perSecond === undefined ? "" : fmt(row.perSecond, 0),
      row.perSecond === undefined ? "" : ratio(row.perSecond, koa.perSecond),
      row.p50Text ?? (row.p50Ms === undefined ? "" : fmt(row.p50Ms)),
      row.p50Ms === undefined ? "" : ratio(row.p50Ms, koa.p50Ms),
      row.p99Text ?? (row.p99Ms === undefined ? "" : fmt(row.p99Ms)),
      row.p99Ms === undefined ? "" : ratio(row.p99Ms, koa.p99Ms),
      row.notes,
    ]),
  );

const reservationRow = (role: Role, shape: Shape, result: ReservationLoadResult): Row => {
  const inventory = result.inventory;
  const stock =
    inventory === undefined
      ? ""
      : typeof inventory === "string"
        ? `; inventory not checked: ${inventory}`
        : `; oversold ${inventory.oversold} (held+committed ${inventory.heldPlusCommitted} of capacity ${inventory.capacity}; 201s seen ${inventory.accepted})`;
  return {
    what: `POST /reservations, ${shape === "hot" ? "one hot product" : `uncontended (${products} products)`}, ROLE=${role}`,
    perSecond: result.perSecond,
    p50Ms: result.p50Ms,
    p99Ms: result.p99Ms,
    notes: `${describeStatuses(result)}; service CPU ${fmt(result.serviceCpuPercent, 0)}%${stock}`,
  };
};

const lagRows = (rate: number, lag: LagResult): Row[] => {
  const writes = ascending(lag.writeLatencyMs);
  const visible = ascending(lag.fromAnswerMs);
  const group = (name: string): Row => {
    const figures = lag.groups.get(name);
    const bound = (seconds: number | undefined): { ms?: number; text: string } =>
      seconds === undefined || Number.isNaN(seconds)
        ? { text: "-" }
        : seconds === Number.POSITIVE_INFINITY
          ? { text: "> last bucket" }
          : { ms: seconds * 1000, text: `≤ ${fmt(seconds * 1000, 0)}` };
    const p50 = bound(figures?.p50UpperS);
    const p99 = bound(figures?.p99UpperS);
    return {
      what: `  ${name} lag (event appended → handled)`,
      ...(p50.ms === undefined ? {} : { p50Ms: p50.ms }),
      ...(p99.ms === undefined ? {} : { p99Ms: p99.ms }),
      p50Text: p50.text,
      p99Text: p99.text,
      notes: figures
        ? `subscription_lag_seconds bucket bounds; n=${figures.count}, mean ${fmt((figures.sum / Math.max(1, figures.count)) * 1000)} ms, retried ${figures.outcomes.retried ?? 0}, parked ${figures.outcomes.parked ?? 0}`
        : "no figures in /metrics",
    };
  };
  return [
    {
      what: `sustained ${lagDurationS} s at ${Math.round(lagShare * 100)}% of the ROLE=all maximum: POST /reservations`,
      perSecond: lag.placed / (lag.loadMs / 1000),
      p50Ms: percentile(writes, 50),
      p99Ms: percentile(writes, 99),
      notes: `offered ${fmt(rate, 0)}/s open loop, ${lag.requested} requested, ${lag.placed} placed; failures ${JSON.stringify(lag.failures)}`,
    },
    {
      what: "  My Page lag (201 → visible in GET /my-page)",
      p50Ms: percentile(visible, 50),
      p99Ms: percentile(visible, 99),
      notes: `${visible.length} of ${lag.placed} seen${lag.unseen > 0 ? `, ${lag.unseen} NOT seen within the drain` : ""}; polled every 20 ms`,
    },
    group("reservation-saga"),
    group("projection-mypage"),
  ];
};

// ---- run ----

const main = async (): Promise<void> => {
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repoRoot, encoding: "utf8" }).trim();
  progress(
    `${quick ? "quick run" : "full run"}: ${connections} connections, ${warmupS} s warm-up + ${durationS} s per load run, lag run ${lagDurationS} s`,
  );
  progress("building dist/ (tsc -b tsconfig.build.json)");
  buildService();

  progress("bare Koa limit");
  const koa = await measureBareKoa();
  progress(`  ${fmt(koa.perSecond, 0)} req/s`);
  const rows: Row[] = [
    {
      what: "bare Koa + router + bodyparser, POST JSON (the limit)",
      perSecond: koa.perSecond,
      p50Ms: koa.p50Ms,
      p99Ms: koa.p99Ms,
      notes: describeStatuses(koa),
    },
  ];

  let allMaximum = Number.NaN;
  for (const role of ["api", "all"] as const) {
    for (const shape of ["uncontended", "hot"] as const) {
      progress(`POST /reservations, ${shape}, ROLE=${role}`);
      const result = await measureReservations({ role, shape, connections, durationS, warmupS, logLevel, products, progress });
      progress(`  ${fmt(result.perSecond, 0)} req/s, p99 ${fmt(result.p99Ms)} ms`);
      rows.push(reservationRow(role, shape, result));
      if (role === "all") allMaximum = Number.isFinite(allMaximum) ? Math.max(allMaximum, result.perSecond) : result.perSecond;
    }
  }

  progress("embedded event store");
  let store: EventStoreFigures | undefined;
  try {
    store = await measureEventStore(quick ? { events: 500 } : {});
    for (const figure of store.figures) {
      rows.push({
        what: `embedded store: ${figure.label}`,
        perSecond: figure.perSecond,
        notes: `through @eventstore/db-client; from ${store.source}`,
      });
    }
  } catch (error) {
    rows.push({ what: "embedded store", notes: `failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` });
  }

  const rate = Math.max(1, lagShare * allMaximum);
  progress(`sustained load at ${fmt(rate, 0)}/s for ${lagDurationS} s (${Math.round(lagShare * 100)}% of ${fmt(allMaximum, 0)}/s), lag`);
  rows.push(...lagRows(rate, await measureLag(rate)));

  const header = [
    `## npm run bench${quick ? " -- --quick" : ""}, ${new Date().toISOString()}`,
    "",
    `commit ${commit}; node ${process.version}; ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); load average at the end ${loadavg()
      .map((n) => n.toFixed(1))
      .join(" ")}; ` +
      `autocannon ${connections} connections, ${warmupS} s warm-up + ${durationS} s per run; service LOG_LEVEL=${logLevel}, NODE_ENV=production, durable embedded store; ` +
      `took ${fmt((performance.now() - began) / 1000, 0)} s`,
    "",
  ];
  process.stdout.write(`\n${header.join("\n")}${renderTable(koa, rows)}\n`);
};

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
