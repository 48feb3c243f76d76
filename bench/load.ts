/**
 * Overload and outage, as a client sees them (DESIGN §6: "when reservations overload the system,
 * new ones are refused quickly with 503 and Retry-After instead of timing out").
 *
 *   npx tsx bench/load.ts [--small] [--duration 30] [--rate <req/s>] [--overload 4] [--products 4]
 *        [--capacity <units>] [--seed 1] [--outage 5] [--outage-rate <req/s>] [--outage-burst 4] [--timeout 30000]
 *        [--log-level warn] [--role api|all] [--max-in-flight n] [--max-queued n] [--queue-timeout-ms n]
 *        [--no-outage] [--url http://host:port --secret <AUTH_SECRET> [--eventstore esdb://...]]
 *
 * By default it starts a durable embedded EventStoreDB child and one service process on it
 * (`ROLE=api`, `LOG_LEVEL=warn`, the service's default admission bounds unless given), measures the
 * sustainable rate (a short closed-loop run), then:
 *  1. offers `POST /reservations` open loop (constant arrival rate) at `--rate`, by default
 *     `--overload` × the sustainable rate, for `--duration` seconds over `--products` products of
 *     `--capacity` units (by default sized to sell out about two thirds in), and prints offered/s,
 *     accepted/s, shed/s, 409s, latencies and 5xx; then folds every product stream with the product
 *     decider: nothing oversold, accepted units = held + committed;
 *  2. keeps sending at `--outage-rate` (by default half the sustainable rate, so that what is seen is
 *     the outage, not overload; in groups of `--outage-burst`), kills the store (SIGKILL) a moment in and keeps sending for
 *     `--outage` seconds: how the requests in flight at the kill and those after it are answered,
 *     and how fast;
 *  3. starts the store again on the same port and data directory and reports how long until a
 *     request is accepted again (the service is not restarted), then a short run at half the
 *     sustainable rate and a final check of every stream (no acknowledged reservation lost).
 * With `--url` it drives a running service (phase 1 only; checked through the store given with
 * `--eventstore`, else `GET /products/{id}`). Exit code 1 when an invariant is broken.
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import type { Latency, OversellCheck, Summary } from "../tests/load/driver.js";
import { cleanUp, runScenario, type ScenarioOptions, type ScenarioResources } from "../tests/load/scenario.js";

exitOnHelp(`
usage: npm run load:test -- [--small] [--duration 30] [--rate <req/s>] [--overload 4] [--products 4]
         [--capacity <units>] [--seed 1] [--outage 5] [--outage-rate <req/s>] [--outage-burst 4] [--timeout 30000]
         [--log-level warn] [--role api|all] [--max-in-flight n] [--max-queued n] [--queue-timeout-ms n]
         [--no-outage] [--url http://host:port --secret <AUTH_SECRET> [--eventstore esdb://...]]

Overload (open loop at --overload x the sustainable rate: shed with 503) and an event-store outage, then an oversell check.
`);

const { values } = parseArgs({
  options: {
    small: { type: "boolean", default: false },
    duration: { type: "string" },
    rate: { type: "string" },
    overload: { type: "string", default: "4" },
    products: { type: "string" },
    capacity: { type: "string" },
    seed: { type: "string", default: "1" },
    outage: { type: "string" },
    "outage-rate": { type: "string" },
    "outage-burst": { type: "string" },
    timeout: { type: "string", default: "30000" },
    "log-level": { type: "string", default: "warn" },
    role: { type: "string", default: "api" },
    "max-in-flight": { type: "string" },
    "max-queued": { type: "string" },
    "queue-timeout-ms": { type: "string" },
    "no-outage": { type: "boolean", default: false },
    url: { type: "string" },
    secret: { type: "string" },
    eventstore: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

const number = (name: string, text: string | undefined, fallback: number): number => {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number, not ${text}`);
  return value;
};
const optionalNumber = (name: string, text: string | undefined): number | undefined =>
  text === undefined ? undefined : number(name, text, 0);

const small = values.small;
if (values.role !== "api" && values.role !== "all") throw new Error("--role is api or all");
const maxInFlight = optionalNumber("max-in-flight", values["max-in-flight"]);
const maxQueued = values["max-queued"] === undefined ? undefined : Number(values["max-queued"]);
const queueTimeoutMs = values["queue-timeout-ms"] === undefined ? undefined : Number(values["queue-timeout-ms"]);
const rate = optionalNumber("rate", values.rate);
const capacity = optionalNumber("capacity", values.capacity);

const options: ScenarioOptions = {
  ...(values.url === undefined ? {} : { url: values.url }),
  ...(values.secret === undefined ? {} : { secret: values.secret }),
  ...(values.eventstore === undefined ? {} : { eventStoreUrl: values.eventstore }),
  ...(rate === undefined ? {} : { rate }),
  ...(capacity === undefined ? {} : { capacity: Math.round(capacity) }),
  overload: number("overload", values.overload, 4),
  durationMs: number("duration", values.duration, small ? 8 : 30) * 1000,
  products: Math.round(number("products", values.products, small ? 2 : 4)),
  seed: number("seed", values.seed, 1),
  calibrateMs: small ? 2000 : 3000,
  calibrateConcurrency: 32,
  killAfterMs: small ? 500 : 1000,
  outageMs: number("outage", values.outage, small ? 3 : 5) * 1000,
  ...(values["outage-rate"] === undefined ? {} : { outageRate: number("outage-rate", values["outage-rate"], 0) }),
  outageBurst: Math.round(number("outage-burst", values["outage-burst"], 4)),
  recoveryMaxMs: 30_000,
  afterMs: small ? 2000 : 3000,
  timeoutMs: number("timeout", values.timeout, 30_000),
  skipOutage: values["no-outage"],
  service: {
    logLevel: values["log-level"],
    role: values.role,
    admission: {
      ...(maxInFlight === undefined ? {} : { maxInFlight }),
      ...(maxQueued === undefined ? {} : { maxQueued }),
      ...(queueTimeoutMs === undefined ? {} : { queueTimeoutMs }),
    },
  },
  log: (line) => console.log(`# ${line}`),
};

const ms = (value: number): string => (Number.isFinite(value) ? `${value < 10 ? value.toFixed(1) : Math.round(value)} ms` : "n/a");
const latency = (l: Latency): string => `p50 ${ms(l.p50)}  p99 ${ms(l.p99)}  max ${ms(l.max)}  (n=${l.count})`;
const perSecond = (value: number): string => `${value.toFixed(0)}/s`;
const others = (s: Summary): string =>
  Object.keys(s.other).length === 0
    ? "none"
    : Object.entries(s.other)
        .map(([key, count]) => `${key}: ${count}`)
        .join(", ");

const failures: string[] = [];

const printSummary = (title: string, s: Summary, seconds: number): void => {
  console.log(`\n${title}`);
  console.log(`  offered                 ${perSecond(s.offeredPerSecond)} (${s.sent} requests in ${seconds.toFixed(1)} s)`);
  console.log(`  accepted (201)          ${perSecond(s.acceptedPerSecond)} (${s.accepted}, ${s.acceptedUnits} units)`);
  console.log(
    `  shed (503)              ${perSecond(s.shedPerSecond)} (${s.shed}; without Retry-After or problem body: ${s.badShed}${s.badShedExample ? `, e.g. ${s.badShedExample}` : ""})`,
  );
  console.log(`  409 insufficient avail. ${s.soldOut}`);
  console.log(`  other answers           ${others(s)}`);
  console.log(`  5xx other than 503      ${s.serverErrors}`);
  console.log(
    `  client timeouts/errors  ${s.timeouts} / ${s.networkErrors}${Object.keys(s.errorDetails).length > 0 ? ` ${JSON.stringify(s.errorDetails)}` : ""}`,
  );
  for (const [detail, count] of Object.entries(s.shedDetails)) console.log(`    503 "${detail}": ${count}`);
  console.log(`  latency of 201s         ${latency(s.acceptedLatency)}`);
  console.log(`  latency of 503s         ${latency(s.shedLatency)}`);
  if (s.serverErrors > 0) failures.push(`${title}: ${s.serverErrors} 5xx other than 503`);
  if (s.badShed > 0) failures.push(`${title}: ${s.badShed} 503s without Retry-After or a problem body (${s.badShedExample})`);
  if (s.timeouts + s.networkErrors > 0) failures.push(`${title}: ${s.timeouts} timeouts, ${s.networkErrors} transport errors`);
};

const printCheck = (title: string, check: OversellCheck, exact: boolean): void => {
  console.log(`\n${title}`);
  for (const product of check.products) {
    console.log(
      `  product ${product.id}: capacity ${product.capacity}, held ${product.held} + committed ${product.committed}, ` +
        `201 units ${product.acceptedUnits}${product.unansweredHolds > 0 ? `, holds without a 201: ${product.unansweredHolds} (${product.unansweredUnits} units)` : ""}` +
        `${product.missingHolds > 0 ? `, 201s missing from the stream: ${product.missingHolds}` : ""}`,
    );
  }
  console.log(
    `  oversold products: ${check.oversold}; held+committed ${check.totalHeldCommitted} of capacity ${check.totalCapacity}; ` +
      `201 units ${check.totalAcceptedUnits}; 201s not in the streams: ${check.missingHolds}; units held without a 201: ${check.unansweredUnits}`,
  );
  if (check.oversold > 0) failures.push(`${title}: ${check.oversold} products oversold`);
  if (check.missingHolds > 0) failures.push(`${title}: ${check.missingHolds} accepted reservations are not in the streams`);
  if (exact && check.unansweredUnits > 0) failures.push(`${title}: ${check.unansweredUnits} units held without a 201`);
};

const resources: ScenarioResources = {};
let interrupted = false;
const onSignal = (): void => {
  if (interrupted) return;
  interrupted = true;
  void cleanUp(resources).finally(() => process.exit(130));
};
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);

try {
  console.log(`# load: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); seed ${options.seed}`);
  const report = await runScenario(options, resources);
  const phase = report.overloadPhase;
  console.log(
    `\nsustainable rate (closed loop): ${report.sustainablePerSecond === undefined ? "not measured" : perSecond(report.sustainablePerSecond)}`,
  );
  console.log(`offered rate asked: ${report.rate}/s; products: ${report.fixture.products.length} × capacity ${report.capacity}`);
  console.log(
    `driver lag behind schedule: p99 ${ms(phase.lagP99)}, max ${ms(phase.lagMax)}; last answer ${((phase.totalMs - phase.sendingMs) / 1000).toFixed(1)} s after the last request`,
  );
  printSummary("PHASE 1 — overload", report.overload, phase.sendingMs / 1000);
  console.log(`  shed by the service (/metrics http_commands_shed_total): ${JSON.stringify(report.shedMetrics)}`);
  const pct = (value: number): string => (Number.isFinite(value) ? `${Math.round(value)}%` : "n/a");
  console.log(
    `  CPU (100% = one core)   driver ${pct(report.cpu.driver)}, service ${pct(report.cpu.service)}, event store ${pct(report.cpu.store)}`,
  );
  printCheck("never oversold (streams folded with the product decider, after phase 1)", report.overloadCheck, true);
  if (report.overload.shed === 0) console.log("  note: nothing was shed: the offered rate did not exceed the admission bounds");

  const outage = report.outage;
  if (outage !== undefined) {
    const down = outage.down;
    const around = outage.aroundKill;
    console.log(
      `\nPHASE 2 — ${report.outageRate} requests/s in groups of ${options.outageBurst}; the event store is killed (SIGKILL) after ${options.killAfterMs / 1000} s, then ${options.outageMs / 1000} s more`,
    );
    console.log(
      `  sent before it died     201: ${around.accepted}, 503: ${around.shed}, other: ${others(around)}, timeouts: ${around.timeouts}, transport errors: ${around.networkErrors}; latency ${latency(around.allLatency)}`,
    );
    if (around.serverErrors + around.timeouts + around.networkErrors + around.badShed > 0) {
      failures.push(
        `phase 2: requests in flight when the store died got ${around.serverErrors} 5xx other than 503, ${around.badShed} bad 503s, ${around.timeouts} timeouts, ${around.networkErrors} transport errors`,
      );
    }
    console.log(`  sent after it died:`);
    console.log(
      `  answers                 503: ${down.shed}, 201: ${down.accepted}, 409: ${down.soldOut}, other: ${others(down)}, timeouts: ${down.timeouts}, transport errors: ${down.networkErrors}`,
    );
    console.log(`  503 without Retry-After or problem body: ${down.badShed}${down.badShedExample ? ` (e.g. ${down.badShedExample})` : ""}`);
    for (const [detail, count] of Object.entries(down.shedDetails)) console.log(`    503 "${detail}": ${count}`);
    console.log(`  latency of every answer ${latency(down.allLatency)}`);
    console.log(`  latency of 503s         ${latency(down.shedLatency)}`);
    const slow = outage.downAnswers.filter((answer) => answer.ms >= 1000).length;
    console.log(
      `  answered in under 1 s   ${down.sent - slow} of ${down.sent} (all the answers of phase 2: ${outage.aroundKillAnswers.filter((a) => a.ms < 1000).length + down.sent - slow} of ${outage.aroundKillAnswers.length + down.sent})`,
    );
    if (down.timeouts + down.networkErrors > 0) failures.push(`phase 2: ${down.timeouts} timeouts, ${down.networkErrors} transport errors`);
    if (down.sent !== down.shed)
      failures.push(`phase 2: ${down.sent - down.shed} of ${down.sent} requests were not answered 503 while the store was down`);
    if (down.serverErrors > 0) failures.push(`phase 2: ${down.serverErrors} 5xx other than 503`);
    if (down.badShed > 0) failures.push(`phase 2: ${down.badShed} 503s without Retry-After or a problem body`);

    const recovery = outage.recovery;
    console.log(`\nPHASE 3 — event store restarted on the same port and data (service untouched)`);
    console.log(`  store listening again   ${ms(outage.storeRestartMs)} after the restart began`);
    console.log(
      `  first 201               ${outage.recoveredAfterMs === undefined ? "NONE within the limit" : `${ms(outage.recoveredAfterMs)} after the store listened again`}`,
    );
    console.log(
      `  answers until then      503: ${recovery.shed}, 201: ${recovery.accepted}, other: ${others(recovery)}, timeouts: ${recovery.timeouts}, transport errors: ${recovery.networkErrors}; latency ${latency(recovery.allLatency)}`,
    );
    console.log(
      `  service process         pid ${outage.servicePidBefore}, ${outage.serviceAliveAfter ? "the same process, still running" : "NOT RUNNING"}`,
    );
    const clientErrors = { ...around.errorDetails, ...down.errorDetails, ...recovery.errorDetails };
    if (Object.keys(clientErrors).length > 0) console.log(`  client-side failures in phases 2 and 3: ${JSON.stringify(clientErrors)}`);
    if (outage.recoveredAfterMs === undefined) failures.push("phase 3: no request was accepted after the store came back");
    if (!outage.serviceAliveAfter) failures.push("phase 3: the service process died");
    if (recovery.serverErrors > 0) failures.push(`phase 3: ${recovery.serverErrors} 5xx other than 503 while recovering`);
    if (recovery.timeouts + recovery.networkErrors > 0) {
      failures.push(`phase 3: ${recovery.timeouts} timeouts, ${recovery.networkErrors} transport errors while recovering`);
    }
    printSummary(`after recovery — ${options.afterMs / 1000} s at half the sustainable rate`, outage.after, options.afterMs / 1000);
  }
  if (report.finalCheck !== undefined) {
    printCheck("never oversold, nothing acknowledged lost (every stream, after the outage)", report.finalCheck, false);
    if (report.finalCheck.unansweredUnits > 0) {
      console.log(
        "  (units held without a 201: requests in flight when the store died, answered 503; the hold-expiry watchdog of ROLE=worker releases them)",
      );
    }
  }
  if (report.serviceProblems.length > 0) {
    console.log(`\nthe service logged ${report.serviceProblems.length} warnings/errors; the last ones:`);
    for (const line of report.serviceProblems.slice(-5)) console.log(`  ${line.slice(0, 400)}`);
  }
  console.log(
    failures.length === 0 ? "\nOK: every invariant held" : `\nFAILED:\n${failures.map((failure) => `  - ${failure}`).join("\n")}`,
  );
  process.exitCode = failures.length === 0 ? 0 : 1;
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await cleanUp(resources);
}
