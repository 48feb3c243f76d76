/**
 * Overload and outage, end to end (DESIGN §6: "when reservations overload the system, new ones are
 * refused quickly with 503 and Retry-After (load shedding / circuit breaker) instead of timing out").
 *
 * The scenario of `bench/load.ts` at a small size: a durable embedded EventStoreDB child and one
 * service process (ROLE=api) with tiny admission bounds (4 commands in flight, 1 queued, 5 ms queue
 * deadline), so that an open-loop 1000 requests/s over two products overloads it on any machine.
 * Then, with requests coming in groups of four (so that some always arrive together, as they do
 * while the circuit breaker lets its one trial call through), the store is killed (SIGKILL), and
 * later started again on the same port and data directory; the service is left alone.
 *
 * Only outcomes are asserted, never timings: every client timeout is generous (20 s), and a
 * request that times out fails the test as a timeout, not as a slow answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { badShedAnswer, type Sent } from "./driver.js";
import { cleanUp, runScenario, type ScenarioReport, type ScenarioResources } from "./scenario.js";

const resources: ScenarioResources = {};
let report: ScenarioReport;

const describeAnswers = (answers: readonly Sent[]): string =>
  answers
    .slice(0, 5)
    .map((answer) => `${answer.status}${answer.error ? ` ${answer.error}` : ""} ${JSON.stringify(answer.body)}`.slice(0, 300))
    .join("\n");

beforeAll(async () => {
  report = await runScenario(
    {
      rate: 1000,
      overload: 1,
      durationMs: 2000,
      products: 2,
      capacity: 10,
      seed: 7,
      calibrateMs: 0,
      calibrateConcurrency: 0,
      killAfterMs: 500,
      outageMs: 2000,
      outageRate: 200,
      outageBurst: 4,
      recoveryMaxMs: 30_000,
      afterMs: 1000,
      timeoutMs: 20_000,
      service: { logLevel: "warn", role: "api", admission: { maxInFlight: 4, maxQueued: 1, queueTimeoutMs: 5 } },
    },
    resources,
  );
  const o = report.overload;
  const outage = report.outage;
  console.info(
    `overload: ${o.sent} sent, ${o.accepted} 201, ${o.shed} 503, ${o.soldOut} 409, other ${JSON.stringify(o.other)}; ` +
      `store down: ${outage?.down.shed}/${outage?.down.sent} 503; recovered ${outage?.recoveredAfterMs?.toFixed(0)} ms after the store listened; ` +
      `after: ${outage?.after.accepted}/${outage?.after.sent} 201`,
  );
}, 120_000);

afterAll(async () => {
  await cleanUp(resources);
}, 30_000);

describe("under overload", () => {
  it("sheds requests with 503, Retry-After and a problem+json body", () => {
    const shed = report.overloadPhase.answers.filter((answer) => answer.status === 503);
    expect(shed.length, "no request was shed although the offered load exceeded the admission bounds").toBeGreaterThan(0);
    const bad = shed.filter((answer) => badShedAnswer(answer) !== undefined);
    expect(bad.map(badShedAnswer), describeAnswers(bad)).toEqual([]);
    // The service counts what it shed.
    const counted = Object.values(report.shedMetrics).reduce((sum, count) => sum + count, 0);
    expect(counted).toBeGreaterThan(0);
  });

  it("still accepts reservations, answers every request, and no 5xx other than 503", () => {
    const answers = report.overloadPhase.answers;
    expect(report.overload.accepted).toBeGreaterThan(0);
    const unanswered = answers.filter((answer) => answer.status === 0);
    expect(unanswered.length, describeAnswers(unanswered)).toBe(0);
    const serverErrors = answers.filter((answer) => answer.status >= 500 && answer.status !== 503);
    expect(serverErrors.length, describeAnswers(serverErrors)).toBe(0);
    // Everything else is a 201 or a 409 insufficient-availability once a product sold out.
    expect(report.overload.other).toEqual({});
  });

  it("never oversells: held + committed <= capacity, and the 201s are exactly what is held", () => {
    const check = report.overloadCheck;
    expect(check.oversold).toBe(0);
    for (const product of check.products) {
      expect(product.held + product.committed).toBeLessThanOrEqual(product.capacity);
      expect(product.held + product.committed).toBe(product.acceptedUnits);
      expect(product.missingHolds).toBe(0);
      expect(product.unansweredHolds).toBe(0);
    }
  });
});

describe("when the event store dies", () => {
  it("answers 503 with Retry-After and a problem body while it is down, not a timeout", () => {
    const down = report.outage!.downAnswers;
    expect(down.length).toBeGreaterThan(0);
    const notShed = down.filter((answer) => badShedAnswer(answer) !== undefined);
    expect(notShed.length, `while the store was down: ${describeAnswers(notShed)}`).toBe(0);
  });

  it("answers the requests that were in flight when it died: 201 or 503, none hangs", () => {
    const around = report.outage!.aroundKillAnswers;
    const odd = around.filter((answer) => answer.status !== 201 && badShedAnswer(answer) !== undefined);
    expect(odd.length, `around the kill: ${describeAnswers(odd)}`).toBe(0);
  });

  it("accepts requests again once the store is back, without restarting the service", () => {
    const outage = report.outage!;
    expect(outage.serviceAliveAfter).toBe(true);
    expect(outage.recoveredAfterMs, "no request was accepted within 30 s of the store coming back").toBeDefined();
    // While recovering: only 503s (with Retry-After and a problem body) and 201s.
    const odd = outage.recoveryAnswers.filter((answer) => answer.status !== 201 && badShedAnswer(answer) !== undefined);
    expect(odd.length, `while recovering: ${describeAnswers(odd)}`).toBe(0);
    // And afterwards it keeps accepting: nothing but 201s and sheds, at least one 201.
    expect(outage.after.accepted).toBeGreaterThan(0);
    const afterOdd = outage.afterAnswers.filter((answer) => answer.status !== 201 && badShedAnswer(answer) !== undefined);
    expect(afterOdd.length, `after recovery: ${describeAnswers(afterOdd)}`).toBe(0);
  });

  it("lost no acknowledged reservation and oversold nothing", () => {
    const check = report.finalCheck!;
    expect(check.oversold).toBe(0);
    expect(check.missingHolds).toBe(0);
    for (const product of check.products) expect(product.held + product.committed).toBeLessThanOrEqual(product.capacity);
  });
});
