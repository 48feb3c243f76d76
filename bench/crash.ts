/**
 * The crash test at a size of your choosing (tests/crash/crash.test.ts runs the CI size):
 *
 *   npx tsx bench/crash.ts --kills 20 --requests 3000 --seed 7 [--mode all-in-one|worker|both]
 *                          [--concurrency 8] [--workload-ms 60000] [--quiet-timeout-ms 120000]
 *                          [--startup-kill-percent 20] [--json]
 *
 * Runs the service as real processes against an embedded EventStoreDB child, SIGKILLs it (or only
 * the worker role) at seeded random moments during a mixed workload, restarts it, waits until the
 * system is quiet and checks the invariants from the event log (tests/crash/invariants.ts). Prints
 * what it did and every violation; exits 1 when any invariant broke. Needs Redis (REDIS_URL).
 */
import { parseArgs } from "node:util";
import { type CrashMode, type CrashReport, describeReport, killAllChildren, runCrashScenario } from "../tests/crash/harness.js";
import { formatViolations, summarize } from "../tests/crash/invariants.js";

const usage =
  "usage: npx tsx bench/crash.ts [--kills 10] [--requests 1500] [--seed <n>] [--mode all-in-one|worker|both] [--concurrency 6] [--workload-ms <ms>] [--quiet-timeout-ms 120000] [--startup-kill-percent 20] [--json]";

const main = async (): Promise<number> => {
  const { values } = parseArgs({
    options: {
      kills: { type: "string", default: "10" },
      requests: { type: "string", default: "1500" },
      seed: { type: "string" },
      mode: { type: "string", default: "both" },
      concurrency: { type: "string", default: "6" },
      "workload-ms": { type: "string" },
      "quiet-timeout-ms": { type: "string", default: "120000" },
      "startup-kill-percent": { type: "string", default: "20" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const integer = (name: string, text: string | undefined, min: number): number | undefined => {
    if (text === undefined) return undefined;
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}\n${usage}`);
    return value;
  };
  const kills = integer("kills", values.kills, 0) ?? 10;
  const requests = integer("requests", values.requests, 10) ?? 1500;
  const seed = integer("seed", values.seed, 0) ?? Math.floor(Math.random() * 1_000_000_000);
  const concurrency = integer("concurrency", values.concurrency, 1) ?? 6;
  const workloadMs = integer("workload-ms", values["workload-ms"], 1000);
  const quietTimeoutMs = integer("quiet-timeout-ms", values["quiet-timeout-ms"], 1000) ?? 120_000;
  const startupKillPercent = integer("startup-kill-percent", values["startup-kill-percent"], 0) ?? 20;
  if (startupKillPercent > 100) throw new Error(`--startup-kill-percent must be 0..100\n${usage}`);
  const modes: CrashMode[] =
    values.mode === "both" ? ["all-in-one", "worker"] : values.mode === "all-in-one" || values.mode === "worker" ? [values.mode] : [];
  if (modes.length === 0) throw new Error(`--mode must be all-in-one, worker or both\n${usage}`);

  const reports: CrashReport[] = [];
  for (const [index, mode] of modes.entries()) {
    const runSeed = seed + index;
    console.error(`crash run: mode ${mode}, seed ${runSeed}, ${requests} requests, ${kills} kills, concurrency ${concurrency}`);
    const report = await runCrashScenario({
      mode,
      seed: runSeed,
      requests,
      kills,
      concurrency,
      quietTimeoutMs,
      startupKillProbability: startupKillPercent / 100,
      ...(workloadMs === undefined ? {} : { workloadMs }),
      log: (line) => console.error(line),
    });
    reports.push(report);
    console.log(describeReport(report));
    if (report.violations.length === 0) console.log("  invariants: all hold");
    else
      console.log(
        `  invariants: ${report.violations.length} violation(s) ${JSON.stringify(summarize(report.violations))}\n${formatViolations(report.violations, 200)}`,
      );
    if (report.advisories.length > 0) {
      console.log(
        `  advisories (not failing): ${JSON.stringify(summarize(report.advisories))}\n${formatViolations(report.advisories, 20)}`,
      );
    }
  }
  if (values.json) {
    console.log(JSON.stringify(reports, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2));
  }
  const failed = reports.filter((report) => report.violations.length > 0);
  console.log(
    failed.length === 0
      ? "crash test passed"
      : `crash test FAILED in ${failed.map((report) => report.mode).join(", ")} (replay with --seed ${seed})`,
  );
  return failed.length === 0 ? 0 : 1;
};

main().then(
  (code) => {
    killAllChildren();
    process.exit(code);
  },
  (error: unknown) => {
    killAllChildren();
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
