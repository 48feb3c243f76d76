/**
 * Crash test at CI size: a seeded mixed workload while the service is SIGKILLed at random moments
 * (all-in-one), and separately while only the worker role is (the API stays up); after each run the
 * system must heal by itself: the invariants of invariants.ts must hold on the event log, and My
 * Page must equal a fresh rebuild. `CRASH_SEED` replays a run; bench/crash.ts runs larger sizes.
 *
 * Uses the test run's Redis (TEST_REDIS_URL), like the rest of the read-side tests.
 */
import { afterAll, describe, expect, it } from "vitest";
import { formatViolations, summarize } from "./invariants.js";
import { type CrashMode, describeReport, killAllChildren, runCrashScenario } from "./harness.js";

const baseSeed = Number(process.env.CRASH_SEED ?? 20_240_611);

const CI_SIZE = { requests: 200, kills: 3, concurrency: 4, workloadMs: 8000, quietTimeoutMs: 45_000 } as const;

afterAll(() => {
  // runCrashScenario cleans up after itself; this only matters when a test timed out mid-run.
  killAllChildren();
});

describe("crash: SIGKILL at random moments, restart, wait until quiet, check the log", () => {
  const cases: Array<{ mode: CrashMode; seed: number }> = [
    { mode: "all-in-one", seed: baseSeed },
    { mode: "worker", seed: baseSeed + 1 },
  ];
  for (const { mode, seed } of cases) {
    it(`${mode}: every invariant holds after ${CI_SIZE.kills} kills (seed ${seed})`, { timeout: 85_000 }, async () => {
      const report = await runCrashScenario({ mode, seed, ...CI_SIZE });
      const summary = describeReport(report);
      console.log(
        `${summary}\nviolations ${JSON.stringify(summarize(report.violations))}:\n${formatViolations(report.violations, 20)}` +
          (report.advisories.length > 0
            ? `\nadvisories (not failing) ${JSON.stringify(summarize(report.advisories))}:\n${formatViolations(report.advisories, 5)}`
            : ""),
      );
      expect(report.kills.length, summary).toBeGreaterThan(0);
      expect(report.workload.answered, summary).toBeGreaterThan(CI_SIZE.requests / 2);
      expect(
        report.violations,
        `${summary}\nviolations ${JSON.stringify(summarize(report.violations))}:\n${formatViolations(report.violations)}`,
      ).toEqual([]);
    });
  }
});
