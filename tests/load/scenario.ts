/**
 * The overload and outage scenario shared by `bench/load.ts` (figures) and
 * `tests/load/overload.test.ts` (outcomes):
 *
 * 0. Start a durable embedded EventStoreDB child and one service process on it (or use `--url`),
 *    register the products, and measure the sustainable rate with a short closed-loop run.
 * 1. Overload: `POST /reservations` at a constant arrival rate well above that, spread over a few
 *    products of finite capacity (they sell out: 409 insufficient-availability). Then the product
 *    streams are folded with the product decider: nothing oversold, and the units of the 201s are
 *    exactly what is held.
 * 2. Outage: the store is killed (SIGKILL) and requests keep coming: they must be answered 503,
 *    quickly, not time out.
 * 3. Recovery: the store is started again on the same port and data directory while requests keep
 *    coming; how long until one is accepted again, without touching the service. A short run after
 *    it shows the service accepting steadily, and the final check folds every stream again: no
 *    acknowledged reservation was lost to the crash, nothing oversold.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  checkProducts,
  checkProductsOverHttp,
  createFixture,
  httpClient,
  prng,
  runPhase,
  summarise,
  type Fixture,
  type HttpClient,
  type OversellCheck,
  type PhaseResult,
  type Sent,
  type Summary,
  type Target,
} from "./driver.js";
import { restartStore, startService, startStore, type ServiceProcess, type StoreProcess } from "./processes.js";

export interface ScenarioOptions {
  /** A running service instead of starting one (phase 1 only then: its store is not ours to kill). */
  readonly url?: string;
  readonly secret?: string;
  /** With `url`: its store, for the check (otherwise `GET /products/{id}` is used). */
  readonly eventStoreUrl?: string;
  /** Requests per second offered in phase 1; undefined: `overload` × the measured sustainable rate. */
  readonly rate?: number;
  readonly overload: number;
  readonly durationMs: number;
  readonly products: number;
  /** Units per product; undefined: sized so that they sell out about two thirds into phase 1. */
  readonly capacity?: number;
  readonly seed: number;
  readonly calibrateMs: number;
  readonly calibrateConcurrency: number;
  /** Phase 2: requests are sent for `killAfterMs`, then the store is killed, then `outageMs` more; at `outageRate` (also phase 3's). */
  readonly killAfterMs: number;
  readonly outageMs: number;
  /** Default: half the sustainable rate when it was measured, else 100/s. */
  readonly outageRate?: number;
  /**
   * Phases 2 and 3 send their requests in groups of this many (on different products, mostly), so
   * that requests reach the service together — as when a breaker lets one trial call through.
   */
  readonly outageBurst: number;
  /** Phase 3: give up waiting for the first 201 after this long. */
  readonly recoveryMaxMs: number;
  /** After recovery: a short run at a sustainable rate. */
  readonly afterMs: number;
  /** Client timeout of each request. */
  readonly timeoutMs: number;
  readonly skipOutage?: boolean;
  /** The service under test (when started here). */
  readonly service?: {
    readonly logLevel?: string;
    readonly role?: "api" | "all";
    readonly admission?: { readonly maxInFlight?: number; readonly maxQueued?: number; readonly queueTimeoutMs?: number };
  };
  readonly log?: (line: string) => void;
}

export interface OutageReport {
  /** Answers to requests sent once the store process was gone, until the restart began. */
  readonly down: Summary;
  readonly downAnswers: readonly Sent[];
  /** Answers to requests sent before the store process was gone (some were in flight when it died). */
  readonly aroundKill: Summary;
  readonly aroundKillAnswers: readonly Sent[];
  /** From asking for the restart to the store listening again. */
  readonly storeRestartMs: number;
  /** From the store listening again to the first 201 arriving; undefined when none came in time. */
  readonly recoveredAfterMs: number | undefined;
  /** Answers to requests sent from the restart until the first 201 arrived (the recovery window). */
  readonly recovery: Summary;
  readonly recoveryAnswers: readonly Sent[];
  /** The short run after recovery. */
  readonly after: Summary;
  readonly afterAnswers: readonly Sent[];
  /** The service process is the same one and still running. */
  readonly servicePidBefore: number | undefined;
  readonly serviceAliveAfter: boolean;
}

export interface ScenarioReport {
  readonly target: string;
  readonly sustainablePerSecond: number | undefined;
  readonly rate: number;
  readonly capacity: number;
  readonly fixture: Fixture;
  readonly overload: Summary;
  readonly overloadPhase: PhaseResult;
  readonly overloadCheck: OversellCheck;
  /** `http_commands_shed_total` by reason, from GET /metrics after phase 1. */
  readonly shedMetrics: Readonly<Record<string, number>>;
  /** CPU used during phase 1, % of one core: this driver, the service, the store (NaN when unknown). */
  readonly cpu: { readonly driver: number; readonly service: number; readonly store: number };
  /** Requests per second of phases 2 and 3. */
  readonly outageRate: number;
  readonly outage: OutageReport | undefined;
  /** Every stream again after the outage (every answer of every phase). */
  readonly finalCheck: OversellCheck | undefined;
  /** Warnings and errors the service logged (parsed JSON lines, level >= 40), when started here. */
  readonly serviceProblems: readonly string[];
}

/** Everything a scenario started, to be stopped by the caller (also when it failed halfway). */
export interface ScenarioResources {
  store?: StoreProcess;
  service?: ServiceProcess;
  dataDir?: string;
  client?: HttpClient;
}

export async function cleanUp(resources: ScenarioResources): Promise<void> {
  resources.client?.close();
  await resources.service?.stop(5000);
  await resources.store?.stop(5000);
  if (resources.dataDir !== undefined) rmSync(resources.dataDir, { recursive: true, force: true });
}

/** CPU seconds a process has used (user + system), from /proc; NaN where there is none. */
const cpuSecondsOf = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    // after "pid (comm) " the state is field 3; utime and stime are fields 14 and 15 (1-based)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
};

const parseShedMetrics = (text: string): Record<string, number> => {
  const shed: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const found = /^http_commands_shed_total\{([^}]*)\} (\S+)$/.exec(line);
    if (!found) continue;
    const reason = /reason="([^"]*)"/.exec(found[1] ?? "")?.[1] ?? "?";
    shed[reason] = (shed[reason] ?? 0) + Number(found[2]);
  }
  return shed;
};

/** Closed loop: `concurrency` clients each send the next request as soon as the last is answered. */
async function measureSustainable(
  client: HttpClient,
  target: Target,
  fixture: Fixture,
  durationMs: number,
  concurrency: number,
): Promise<{ readonly perSecond: number; readonly answers: readonly Sent[] }> {
  const token = fixture.customerTokens[0]!;
  const started = performance.now();
  const answers: Sent[] = [];
  const worker = async (index: number): Promise<void> => {
    for (let i = index; performance.now() - started < durationMs; i += concurrency) {
      const product = fixture.products[i % fixture.products.length]!;
      const sentAt = performance.now() - started;
      const answer = await client.request("POST", `${target.url}/reservations`, {
        token,
        json: { productId: product.id, quantity: 1 },
        timeoutMs: 30_000,
      });
      const id = (answer.body as { id?: unknown } | undefined)?.id;
      answers.push({
        ...answer,
        sentAt,
        productId: product.id,
        quantity: 1,
        ...(answer.status === 201 && typeof id === "string" ? { reservationId: id } : {}),
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  const accepted = answers.filter((answer) => answer.status === 201).length;
  return { perSecond: accepted / ((performance.now() - started) / 1000), answers };
}

export async function runScenario(options: ScenarioOptions, resources: ScenarioResources): Promise<ScenarioReport> {
  const log = options.log ?? (() => undefined);
  const random = prng(options.seed);
  const client = httpClient();
  resources.client = client;

  // ---- 0. the system under test ----
  let target: Target;
  let eventStoreUrl = options.eventStoreUrl;
  if (options.url !== undefined) {
    if (options.secret === undefined) throw new Error("--url needs --secret (the service's AUTH_SECRET)");
    target = { url: options.url.replace(/\/$/, ""), secret: options.secret };
  } else {
    resources.dataDir = mkdtempSync(join(tmpdir(), "load-es-"));
    resources.store = await startStore(resources.dataDir);
    eventStoreUrl = resources.store.connectionString;
    resources.service = await startService({
      eventStoreUrl,
      ...(options.service?.logLevel === undefined ? {} : { logLevel: options.service.logLevel }),
      ...(options.service?.role === undefined ? {} : { role: options.service.role }),
      ...(options.service?.admission === undefined ? {} : { admission: options.service.admission }),
    });
    target = { url: resources.service.url, secret: resources.service.secret };
    log(
      `store pid ${resources.store.pid} at ${eventStoreUrl} (data ${resources.dataDir}); service pid ${resources.service.pid} at ${target.url}`,
    );
  }

  // Products nobody sells out, for the calibration (as many as phase 1 has), the outage and the
  // recovery (at least 8, so that concurrent requests there mostly work on different streams).
  const spare = await createFixture(client, target, Math.max(options.products, 8), 1_000_000);
  const calibrationFixture: Fixture = { ...spare, products: spare.products.slice(0, options.products) };

  let sustainable: number | undefined;
  let calibration: readonly Sent[] = [];
  let rate = options.rate;
  if (rate === undefined || options.capacity === undefined) {
    const measured = await measureSustainable(client, target, calibrationFixture, options.calibrateMs, options.calibrateConcurrency);
    sustainable = measured.perSecond;
    calibration = measured.answers;
    log(
      `sustainable (closed loop, ${options.calibrateConcurrency} clients, ${options.calibrateMs / 1000} s): ${sustainable.toFixed(0)} accepted/s`,
    );
  }
  rate ??= Math.max(50, Math.round((sustainable ?? 0) * options.overload));
  // Average quantity 2; the products sell out about two thirds into phase 1 at the sustainable rate.
  const capacity =
    options.capacity ??
    Math.max(10, Math.round(((sustainable ?? rate / options.overload) * (options.durationMs / 1000) * 2 * (2 / 3)) / options.products));
  const fixture = await createFixture(client, target, options.products, capacity);
  const outageRate = options.outageRate ?? (sustainable === undefined ? 100 : Math.max(20, Math.round(sustainable / 2)));
  const fixtureTokens = fixture.customerTokens;

  // ---- 1. overload ----
  log(`phase 1: ${rate} requests/s for ${options.durationMs / 1000} s over ${options.products} products of capacity ${capacity}`);
  const cpuBefore = [cpuSecondsOf(process.pid), cpuSecondsOf(resources.service?.pid), cpuSecondsOf(resources.store?.pid)];
  const overloadPhase = await runPhase(client, target, fixture, {
    rate,
    durationMs: options.durationMs,
    timeoutMs: options.timeoutMs,
    random,
  });
  const cpuOf = (index: number, pid: number | undefined): number =>
    ((cpuSecondsOf(pid) - cpuBefore[index]!) / (overloadPhase.totalMs / 1000)) * 100;
  const cpu = { driver: cpuOf(0, process.pid), service: cpuOf(1, resources.service?.pid), store: cpuOf(2, resources.store?.pid) };
  const overload = summarise(overloadPhase);
  const metricsAnswer = await client.request("GET", `${target.url}/metrics`, { timeoutMs: 30_000 });
  const shedMetrics = typeof metricsAnswer.body === "string" ? parseShedMetrics(metricsAnswer.body) : {};
  const overloadCheck =
    eventStoreUrl === undefined
      ? await checkProductsOverHttp(client, target, fixture, overloadPhase.answers)
      : await checkProducts(eventStoreUrl, fixture, overloadPhase.answers);

  const report = {
    target: target.url,
    sustainablePerSecond: sustainable,
    rate,
    capacity,
    fixture,
    overload,
    overloadPhase,
    overloadCheck,
    shedMetrics,
    cpu,
    outageRate,
  };
  const problems = (): string[] =>
    (resources.service?.lines ?? []).filter((line) => {
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 40;
      } catch {
        return false;
      }
    });

  const store = resources.store;
  const service = resources.service;
  if (
    options.skipOutage === true ||
    store === undefined ||
    service === undefined ||
    resources.dataDir === undefined ||
    eventStoreUrl === undefined
  ) {
    return { ...report, outage: undefined, finalCheck: undefined, serviceProblems: problems() };
  }

  // ---- 2. outage ----
  const outageFixture: Fixture = { products: spare.products, customerTokens: fixtureTokens };
  log(
    `phase 2: ${outageRate} requests/s; after ${options.killAfterMs} ms the event store (pid ${store.pid}) is killed (SIGKILL), ` +
      `then ${options.outageMs / 1000} s more`,
  );
  let killedAt = Number.POSITIVE_INFINITY;
  const killing = new Promise<void>((resolve) => {
    setTimeout(() => {
      void store.kill().then(() => {
        killedAt = performance.now();
        delete resources.store;
        resolve();
      });
    }, options.killAfterMs);
  });
  const downPhase = await runPhase(client, target, outageFixture, {
    rate: outageRate,
    burst: options.outageBurst,
    durationMs: options.killAfterMs + options.outageMs,
    timeoutMs: options.timeoutMs,
    random,
  });
  await killing;
  // Sent once the store process was gone: these must be 503s. Sent before: 201s, or 503s when the kill caught them.
  const killedAtInPhase = killedAt - downPhase.startedAt;
  const afterKill = downPhase.answers.filter((answer) => answer.sentAt >= killedAtInPhase);
  const aroundKill = downPhase.answers.filter((answer) => answer.sentAt < killedAtInPhase);
  const phaseOf = (answers: readonly Sent[], from: number, to: number): PhaseResult => ({
    ...downPhase,
    answers,
    sendingMs: Math.max(1, to - from),
  });

  // ---- 3. recovery ----
  log(`phase 3: the event store is started again on port ${store.port} with the same data; requests keep coming`);
  const restartAsked = performance.now();
  let listeningAt: number | undefined;
  let firstAcceptedAt: number | undefined;
  const restarting = restartStore(resources.dataDir, store.port).then((restarted) => {
    listeningAt = performance.now();
    resources.store = restarted;
    return restarted;
  });
  // Awaited below, after the recovery phase; a failed restart must not be an unhandled rejection meanwhile.
  restarting.catch(() => undefined);
  const recoveryPhase = await runPhase(client, target, outageFixture, {
    rate: outageRate,
    burst: options.outageBurst,
    durationMs: options.recoveryMaxMs,
    timeoutMs: options.timeoutMs,
    random,
    until: () => firstAcceptedAt !== undefined,
    onAnswer: (answer) => {
      if (answer.status === 201 && firstAcceptedAt === undefined) firstAcceptedAt = performance.now();
    },
  });
  const restarted = await restarting;
  const afterRate = Math.max(10, Math.round((sustainable ?? outageRate) / 2));
  const afterPhase = await runPhase(client, target, outageFixture, {
    rate: afterRate,
    durationMs: options.afterMs,
    timeoutMs: options.timeoutMs,
    random,
  });
  const everything = [...calibration, ...overloadPhase.answers, ...downPhase.answers, ...recoveryPhase.answers, ...afterPhase.answers];
  const finalCheck = await checkProducts(
    restarted.connectionString,
    { products: [...fixture.products, ...spare.products], customerTokens: fixtureTokens },
    everything,
  );

  return {
    ...report,
    outage: {
      down: summarise(phaseOf(afterKill, killedAtInPhase, downPhase.sendingMs)),
      downAnswers: afterKill,
      aroundKill: summarise(phaseOf(aroundKill, 0, killedAtInPhase)),
      aroundKillAnswers: aroundKill,
      storeRestartMs: (listeningAt ?? Number.NaN) - restartAsked,
      recoveredAfterMs: firstAcceptedAt === undefined || listeningAt === undefined ? undefined : firstAcceptedAt - listeningAt,
      recovery: summarise(recoveryPhase),
      recoveryAnswers: recoveryPhase.answers,
      after: summarise(afterPhase),
      afterAnswers: afterPhase.answers,
      servicePidBefore: service.pid,
      serviceAliveAfter: service.alive() && resources.service?.pid === service.pid,
    },
    finalCheck,
    serviceProblems: problems(),
  };
}
