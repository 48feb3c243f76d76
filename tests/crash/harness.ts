/**
 * The crash harness: runs the service as real processes against one long-lived embedded
 * EventStoreDB child (on a durable temp dir; it is never killed), drives a seeded mixed workload
 * over HTTP, SIGKILLs the service at seeded random moments and starts it again, waits until the
 * system is quiet, then checks the invariants of invariants.ts from the event log.
 *
 * Modes:
 * - `all-in-one`: one `ROLE=all` process (API + workers) is killed and restarted on the same port;
 *   requests in flight or sent while it is dead fail with connection errors.
 * - `worker`: a `ROLE=api` process stays up; a `ROLE=worker` process (saga, watchdog, notifier,
 *   projections) is killed and restarted.
 *
 * "Quiet" (bounded by `quietTimeoutMs`): the killed role is running again, every `$all` persistent
 * subscription group has a consumer and nothing outstanding, buffered or waiting for a retry, the
 * `$all` head and every customer's My Page stopped changing for `stableMs`, and the hold watchdog
 * owes nothing due within `watchdogHorizonMs` (reservations placed on a 10 s-hold product must have
 * expired, orphaned holds been abandoned). Then no event is in flight anywhere, so the check may
 * demand that every saga step has happened.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { EventStoreDBClient, FORWARDS, StreamNotFoundError } from "@eventstore/db-client";
import { Redis } from "ioredis";
import { RedisPaymentTokenStore } from "../../src/infrastructure/redis-payment-token-store.js";
import { rebuildProjections } from "../../projections/rebuild.js";
import { isPlaced } from "../../src/domain/index.js";
import { signToken } from "../../src/http/auth.js";
import {
  type Model,
  type MyPageLike,
  type Violation,
  buildModel,
  checkInvariants,
  compareMyPageWithLog,
  headPosition,
  jsonDiff,
  pendingWatchdogWork,
  readEventLog,
} from "./invariants.js";
import {
  ChildExitedError,
  type EventStoreChild,
  type LogLine,
  type ServiceChild,
  freePort,
  killAllChildren,
  spawnService,
  startEventStoreChild,
} from "./processes.js";
import {
  CUSTOMERS,
  PRODUCT_SPECS,
  Rng,
  SELLERS,
  type TrackedProduct,
  Workload,
  type WorkloadStats,
  httpRequest,
  sleep,
} from "./workload.js";

export { killAllChildren };

export type CrashMode = "all-in-one" | "worker";

export interface CrashScenarioOptions {
  readonly mode: CrashMode;
  readonly seed: number;
  /** HTTP answers the workload collects. */
  readonly requests: number;
  /** SIGKILLs of the service (all-in-one) or of the worker (worker mode). */
  readonly kills: number;
  readonly concurrency?: number;
  /** How long the workload should take; default max(6 s, 2.5 s per kill). */
  readonly workloadMs?: number;
  readonly quietTimeoutMs?: number;
  readonly stableMs?: number;
  /** Watchdog work due within this window must be done before the system counts as quiet. */
  readonly watchdogHorizonMs?: number;
  /** Probability that a restart is killed again while it starts. */
  readonly startupKillProbability?: number;
  readonly redisUrl?: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface KillRecord {
  readonly n: number;
  readonly role: "all" | "worker";
  readonly pid: number;
  /** Since the workload started. */
  readonly atMs: number;
  /** Whether the process had finished starting when it was killed. */
  readonly phase: "running" | "starting";
  readonly answersSoFar: number;
  /** How long it stayed dead before the restart was spawned. */
  readonly downMs: number;
}

export interface QuietResult {
  readonly reached: boolean;
  readonly waitedMs: number;
  /** What was still going on when the wait gave up (or the last busy reason seen). */
  readonly lastBusy: readonly string[];
}

export interface CrashReport {
  readonly mode: CrashMode;
  readonly seed: number;
  readonly requests: number;
  readonly kills: readonly KillRecord[];
  readonly workload: WorkloadStats;
  readonly quiet: QuietResult;
  readonly log: { readonly events: number; readonly typeCounts: Readonly<Record<string, number>> };
  readonly state: {
    readonly products: number;
    readonly reservations: Readonly<Record<string, number>>;
    readonly payments: Readonly<Record<string, number>>;
    readonly notifications: number;
  };
  readonly myPage: { readonly customers: number; readonly entries: number; readonly rebuildMs: number };
  readonly violations: readonly Violation[];
  /**
   * Findings outside the issue's invariants, reported but not failing the run.
   */
  readonly advisories: readonly Violation[];
  /** Error lines (level ≥ 50) the service processes logged, deduplicated by message. */
  readonly serviceErrors: readonly { readonly msg: string; readonly count: number; readonly example: LogLine }[];
  readonly timings: { readonly setupMs: number; readonly workloadMs: number; readonly quietMs: number; readonly checksMs: number };
  readonly durationMs: number;
}

const ALL_USERS: ReadonlyArray<{ sub: string; role: "customer" | "seller" | "admin" }> = [
  ...CUSTOMERS.map((sub) => ({ sub, role: "customer" as const })),
  ...SELLERS.map((sub) => ({ sub, role: "seller" as const })),
  { sub: "admin-1", role: "admin" },
];

/** Deletes every Redis key under `<root>:` (SCAN + UNLINK). */
export const deleteRedisKeys = async (redis: Redis, root: string): Promise<number> => {
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${root}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
};

const withTimeout = async <T>(work: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

/**
 * The processes of one mode: the stable ones and the one that gets killed. `restart` replaces the
 * victim; `ensureUp` makes sure it runs (it may have been killed while starting).
 */
class ServiceCluster {
  private victimProcess: ServiceChild | undefined;
  private stable: ServiceChild | undefined;
  readonly retired: ServiceChild[] = [];
  /** Pids the test SIGKILLed on purpose; any other exit is the service crashing by itself. */
  readonly killedOnPurpose = new Set<number>();
  readonly baseUrl: string;

  constructor(
    readonly mode: CrashMode,
    private readonly env: NodeJS.ProcessEnv,
    port: number,
  ) {
    this.baseUrl = `http://127.0.0.1:${port}`;
  }

  get victimRole(): "all" | "worker" {
    return this.mode === "all-in-one" ? "all" : "worker";
  }

  get victim(): ServiceChild | undefined {
    return this.victimProcess;
  }

  async start(): Promise<void> {
    if (this.mode === "worker") {
      this.stable = spawnService("api", this.env);
      await this.stable.ready;
    }
    this.victimProcess = spawnService(this.victimRole, this.env);
    await this.victimProcess.ready;
  }

  /** Spawns a fresh victim (the previous one must be dead). */
  spawnVictim(): ServiceChild {
    if (this.victimProcess) this.retired.push(this.victimProcess);
    this.victimProcess = spawnService(this.victimRole, this.env);
    return this.victimProcess;
  }

  /** Waits for the victim to be ready, respawning it if it died while starting. */
  async ensureUp(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const victim = this.victimProcess ?? this.spawnVictim();
      if (!victim.alive()) {
        this.spawnVictim();
        continue;
      }
      try {
        await withTimeout(victim.ready, Math.max(1000, deadline - Date.now()), `the ${this.victimRole} process to start`);
        if (victim.alive()) return;
      } catch (error) {
        if (!(error instanceof ChildExitedError) || Date.now() > deadline) throw error;
      }
    }
  }

  processes(): ServiceChild[] {
    return [...this.retired, ...(this.stable ? [this.stable] : []), ...(this.victimProcess ? [this.victimProcess] : [])];
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.processes().map((child) => child.kill()));
  }
}

/** The per-group statistics of every `$all` persistent subscription, reduced to "busy" reasons. */
const subscriptionState = async (
  client: EventStoreDBClient,
): Promise<{ busy: string[]; parked: Array<{ group: string; count: number }> }> => {
  const groups = await client.listAllPersistentSubscriptions();
  const busy: string[] = [];
  const parked: Array<{ group: string; count: number }> = [];
  for (const info of groups) {
    const stats = info.stats;
    const reasons: string[] = [];
    if (info.connections.length === 0) reasons.push("no consumer");
    if (stats.outstandingMessagesCount > 0) reasons.push(`${stats.outstandingMessagesCount} outstanding`);
    if (stats.readBufferCount > 0) reasons.push(`${stats.readBufferCount} buffered`);
    if (stats.retryBufferCount > 0) reasons.push(`${stats.retryBufferCount} to retry`);
    if (reasons.length > 0) busy.push(`${info.groupName}: ${reasons.join(", ")}`);
    if (Number(stats.parkedMessageCount) > 0) parked.push({ group: info.groupName, count: Number(stats.parkedMessageCount) });
  }
  if (groups.length === 0) busy.push("no persistent subscription groups yet");
  return { busy, parked };
};

/** The parked messages of a group: which events, for the report. */
const parkedMessages = async (client: EventStoreDBClient, group: string): Promise<string[]> => {
  const out: string[] = [];
  try {
    for await (const resolved of client.readStream(`$persistentsubscription-$all::${group}-parked`, {
      direction: FORWARDS,
      resolveLinkTos: true,
      maxCount: 50,
    })) {
      const event = resolved.event;
      if (event) out.push(`${event.streamId}@${event.revision} ${event.type}`);
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) out.push(`(could not read: ${String(error)})`);
  }
  return out;
};

const myPages = async (
  baseUrl: string,
  tokens: ReadonlyMap<string, string>,
  customers: readonly string[],
): Promise<Map<string, { status: number; body: unknown }>> => {
  const pages = new Map<string, { status: number; body: unknown }>();
  for (const customer of customers) {
    const token = tokens.get(customer);
    const outcome = await httpRequest(baseUrl, "GET", "/my-page", token ? { token } : {});
    pages.set(customer, outcome.ok ? { status: outcome.status, body: outcome.body } : { status: 0, body: outcome.error });
  }
  return pages;
};

const countBy = <T>(items: Iterable<T>, key: (item: T) => string): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
};

/** Runs one crash scenario end to end and always cleans up (processes, Redis keys, temp dir). */
export async function runCrashScenario(options: CrashScenarioOptions): Promise<CrashReport> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const rng = new Rng(options.seed);
  const concurrency = options.concurrency ?? 4;
  const workloadMs = options.workloadMs ?? Math.max(6000, options.kills * 2500);
  const quietTimeoutMs = options.quietTimeoutMs ?? 60_000;
  const stableMs = options.stableMs ?? 2000;
  const horizonMs = options.watchdogHorizonMs ?? 20_000;
  const startupKillProbability = options.startupKillProbability ?? 0.2;
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const keyRoot = `crash:${options.mode}:${randomBytes(5).toString("hex")}`;
  const secret = `crash-secret-${randomBytes(16).toString("hex")}`;

  const dataDir = await mkdtemp(path.join(os.tmpdir(), "crash-es-"));
  let eventStore: EventStoreChild | undefined;
  let cluster: ServiceCluster | undefined;
  let client: EventStoreDBClient | undefined;
  let workload: Workload | undefined;
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  redis.on("error", () => undefined);

  try {
    await redis.connect();
    eventStore = await startEventStoreChild(path.join(dataDir, "es"));
    log(`[${options.mode}] event store ${eventStore.connectionString} (pid ${eventStore.pid}), key root ${keyRoot}`);
    client = EventStoreDBClient.connectionString(eventStore.connectionString);
    const port = await freePort();
    cluster = new ServiceCluster(
      options.mode,
      {
        EVENTSTORE_URL: eventStore.connectionString,
        READ_MODEL_KEY_ROOT: keyRoot,
        // A few simulated customers place thousands: the hoarding cap would refuse them.
        MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
        AUTH_SECRET: secret,
        REDIS_URL: redisUrl,
        HOST: "127.0.0.1",
        PORT: String(port),
        LOG_LEVEL: "info",
      },
      port,
    );
    await cluster.start();
    const baseUrl = cluster.baseUrl;
    log(`[${options.mode}] service up at ${baseUrl}`);

    const tokens = new Map<string, string>();
    for (const user of ALL_USERS) tokens.set(user.sub, await signToken(secret, { sub: user.sub, role: user.role, ttlSeconds: 6 * 3600 }));

    // Products (before any kill).
    const products: TrackedProduct[] = [];
    // Larger runs get more units, so that committed sales do not leave nothing to reserve.
    const scale = Math.max(1, Math.round(options.requests / 250));
    for (const base of PRODUCT_SPECS) {
      const spec = { ...base, capacity: base.capacity * scale };
      const response = await httpRequest(baseUrl, "POST", "/products", {
        token: tokens.get(spec.seller) ?? "",
        json: {
          name: `${spec.label} (seed ${options.seed})`,
          capacity: spec.capacity,
          unitPrice: spec.unitPrice,
          kind: spec.kind,
          sellerAcceptance: spec.sellerAcceptance,
          fulfilmentSteps: spec.fulfilmentSteps,
          holdTtlSeconds: spec.holdTtlSeconds,
        },
      });
      const id =
        response.ok && response.status === 201 && typeof (response.body as { id?: unknown }).id === "string"
          ? (response.body as { id: string }).id
          : undefined;
      if (!id) throw new Error(`could not register product ${spec.label}: ${JSON.stringify(response)}`);
      products.push({ ...spec, id });
    }

    // Workload and kills, side by side.
    workload = new Workload({
      seed: options.seed,
      requests: options.requests,
      concurrency,
      targetMs: workloadMs,
      maxMs: workloadMs * 3 + 30_000,
      target: { url: () => baseUrl },
      tokens,
      products,
      customers: CUSTOMERS,
    });
    const kills: KillRecord[] = [];
    const workloadStarted = Date.now();
    const setupMs = workloadStarted - started;
    const triggers = Array.from({ length: options.kills }, () => Math.floor(options.requests * (0.08 + 0.84 * rng.next()))).sort(
      (a, b) => a - b,
    );
    const active = cluster;
    const driver = workload;
    const killer = (async () => {
      let n = 0;
      for (const trigger of triggers) {
        if (n >= options.kills) break;
        while (driver.answers() < trigger && !driver.done()) await sleep(20);
        if (driver.done()) break;
        await active.ensureUp();
        await sleep(rng.next() * 150);
        // Kill the running process; sometimes the restart too, while it starts.
        for (let again = true; again && n < options.kills;) {
          const victim = active.victim;
          if (!victim) break;
          let ready = false;
          void victim.ready.then(
            () => {
              ready = true;
            },
            () => undefined,
          );
          await sleep(0);
          const atMs = Date.now() - workloadStarted;
          active.killedOnPurpose.add(victim.pid);
          await victim.kill();
          const downMs = Math.round(rng.next() * 400);
          n += 1;
          kills.push({
            n,
            role: active.victimRole,
            pid: victim.pid,
            atMs,
            phase: ready ? "running" : "starting",
            answersSoFar: driver.answers(),
            downMs,
          });
          log(
            `[${options.mode}] kill #${n}: SIGKILL ${active.victimRole} pid ${victim.pid} (${ready ? "running" : "starting"}) after ${driver.answers()} answers; down ${downMs} ms`,
          );
          await sleep(downMs);
          const restarted = active.spawnVictim();
          again = rng.chance(startupKillProbability);
          if (again) await sleep(150 + rng.next() * 1200);
          if (!restarted.alive()) again = false;
        }
        await active.ensureUp();
      }
    })();

    const [stats] = await Promise.all([workload.run(), killer]);
    log(
      `[${options.mode}] workload done: ${stats.answered} answers, ${stats.connectionErrors} connection errors, ${stats.reservationsPlaced} reservations, ${kills.length} kills in ${stats.durationMs} ms`,
    );
    await cluster.ensureUp();

    // Wait until quiet.
    const quietStarted = Date.now();
    const quiet = await (async (): Promise<QuietResult> => {
      let lastHead: bigint | undefined;
      let lastPages = "";
      let stableSince: number | undefined;
      let lastBusy: string[] = [];
      while (Date.now() - quietStarted < quietTimeoutMs) {
        const busy: string[] = [];
        if (!cluster.victim?.alive()) {
          busy.push(`the ${cluster.victimRole} process is not running`);
          await cluster.ensureUp();
        }
        const head = await headPosition(client);
        if (head !== lastHead) busy.push(`$all head moved to ${head}`);
        const subscriptions = await subscriptionState(client);
        busy.push(...subscriptions.busy);
        const pages = JSON.stringify([...(await myPages(baseUrl, tokens, CUSTOMERS)).entries()]);
        if (pages !== lastPages) busy.push("my pages changed");
        if (busy.length === 0) {
          const model = buildModel(await readEventLog(client));
          const pending = pendingWatchdogWork(model, new Date(Date.now() + horizonMs));
          for (const work of pending.slice(0, 5)) busy.push(`watchdog: ${work.what} of ${work.reservationId} due ${work.dueAt}`);
          if (pending.length > 5) busy.push(`watchdog: … ${pending.length - 5} more`);
        }
        lastHead = head;
        lastPages = pages;
        if (busy.length === 0) {
          stableSince ??= Date.now();
          if (Date.now() - stableSince >= stableMs) return { reached: true, waitedMs: Date.now() - quietStarted, lastBusy };
        } else {
          stableSince = undefined;
          lastBusy = busy;
        }
        await sleep(400);
      }
      return { reached: false, waitedMs: Date.now() - quietStarted, lastBusy };
    })();
    log(
      `[${options.mode}] ${quiet.reached ? "quiet" : "NOT quiet"} after ${quiet.waitedMs} ms${quiet.reached ? "" : `: ${quiet.lastBusy.join("; ")}`}`,
    );

    // The invariants from the log.
    const checksStarted = Date.now();
    const eventLog = await readEventLog(client);
    const model: Model = buildModel(eventLog);
    const violations: Violation[] = checkInvariants(model, { now: new Date() });
    if (!quiet.reached) {
      violations.push({
        invariant: "system.not-quiet",
        subject: options.mode,
        message: `not quiet within ${quietTimeoutMs} ms`,
        detail: quiet.lastBusy,
      });
    }
    for (const anomaly of stats.anomalies) {
      violations.push({
        invariant: anomaly.kind === "server-error" ? "http.server-error" : "http.unexpected-status",
        subject: `${anomaly.method} ${anomaly.path}`,
        message: `answered ${anomaly.status} at ${anomaly.atMs} ms`,
        detail: anomaly.body,
      });
    }
    for (const child of cluster.processes()) {
      if (child.alive() || cluster.killedOnPurpose.has(child.pid)) continue;
      const { code, signal } = await child.exited;
      violations.push({
        invariant: "system.unexpected-exit",
        subject: `${child.label} pid ${child.pid}`,
        message: `exited by itself (code ${code}, signal ${signal})`,
        detail: child.tail(15),
      });
    }
    const subscriptions = await subscriptionState(client);
    for (const { group, count } of subscriptions.parked) {
      violations.push({
        invariant: "system.parked-messages",
        subject: `group ${group}`,
        message: `${count} parked message(s): a handler failed permanently`,
        detail: await parkedMessages(client, group),
      });
    }

    // My Page: against the log, then against a fresh rebuild.
    const customers = [
      ...new Set([
        ...CUSTOMERS,
        ...[...model.reservations.values()].flatMap(({ state }) => ("customerId" in state ? [state.customerId] : [])),
      ]),
    ];
    for (const customer of customers) {
      if (!tokens.has(customer)) tokens.set(customer, await signToken(secret, { sub: customer, role: "customer", ttlSeconds: 3600 }));
    }
    const before = await myPages(baseUrl, tokens, customers);
    let entries = 0;
    for (const [customer, page] of before) {
      if (page.status !== 200) {
        violations.push({
          invariant: "mypage.unavailable",
          subject: `my-page of ${customer}`,
          message: `GET /my-page answered ${page.status}`,
          detail: page.body,
        });
        continue;
      }
      entries += (page.body as MyPageLike).reservations.length;
      violations.push(...compareMyPageWithLog(model, customer, page.body as MyPageLike));
    }
    const rebuildStarted = Date.now();
    await rebuildProjections({ client, redis, projections: ["mypage"], keyRoot });
    const rebuildMs = Date.now() - rebuildStarted;
    const after = await myPages(baseUrl, tokens, customers);
    for (const customer of customers) {
      const a = before.get(customer);
      const b = after.get(customer);
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        violations.push({
          invariant: "mypage.rebuild-differs",
          subject: `my-page of ${customer}`,
          message: "My Page differs from a fresh rebuild (served → rebuilt)",
          detail: jsonDiff(a?.body, b?.body),
        });
      }
    }
    const advisories: Violation[] = [];
    // Payment tokens are secrets: they never enter the event log, and the store that keeps them
    // (Redis, expiring with the hold) forgets each once it is used. After quiet the saga has handled
    // every placement, so a token may only still wait for a retry of a charge the provider could not
    // take: its reservation is placed and its payment pending.
    for (const leak of eventLog.tokenLeaks) {
      violations.push({ invariant: "tokens.in-log", subject: leak, message: "a payment token is readable in the event log" });
    }
    const tokenStore = new RedisPaymentTokenStore(redis, keyRoot);
    for (const { state } of model.reservations.values()) {
      if (!isPlaced(state) || !state.paymentTokenProvided) continue;
      const payment = model.payments.get(state.reservationId)?.state;
      const mayWaitForRetry = state.status === "placed" && payment?.status === "pending";
      if (!mayWaitForRetry && (await tokenStore.read(state.reservationId)) !== undefined) {
        violations.push({
          invariant: "tokens.retained",
          subject: `payment token of ${state.reservationId}`,
          message: `the payment token given with the reservation is still stored (reservation ${state.status}, payment ${payment?.status ?? "none"}, amount ${state.amount})`,
        });
      }
    }

    const headAfter = await headPosition(client);
    if (headAfter !== eventLog.head) {
      violations.push({
        invariant: "system.log-changed-during-checks",
        subject: "$all",
        message: `the log grew from ${eventLog.head} to ${headAfter} while the checks ran (after quiet): late work, or the checks raced it`,
      });
    }
    log(`[${options.mode}] checked ${eventLog.total} events: ${violations.length} violation(s)`);

    const serviceErrors = new Map<string, { msg: string; count: number; example: LogLine }>();
    for (const child of cluster.processes()) {
      for (const problem of child.problems) {
        if ((problem.level ?? 0) < 50) continue;
        const msg = String(problem.msg ?? "?");
        const entry = serviceErrors.get(msg);
        if (entry) entry.count += 1;
        else serviceErrors.set(msg, { msg, count: 1, example: problem });
      }
    }

    return {
      mode: options.mode,
      seed: options.seed,
      requests: options.requests,
      kills,
      workload: stats,
      quiet,
      log: { events: eventLog.total, typeCounts: eventLog.typeCounts },
      state: {
        products: model.products.size,
        reservations: countBy(model.reservations.values(), ({ state, reservationId }) => {
          const payment = model.payments.get(reservationId)?.state.status ?? "none";
          return `${state.status}/${payment}`;
        }),
        payments: countBy(model.payments.values(), ({ state }) => state.status),
        notifications: [...model.notifications.values()].reduce(
          (sum, stream) => sum + stream.events.filter((item) => item.event.type === "NotificationRecorded").length,
          0,
        ),
      },
      myPage: { customers: customers.length, entries, rebuildMs },
      violations,
      advisories,
      serviceErrors: [...serviceErrors.values()],
      timings: { setupMs, workloadMs: quietStarted - workloadStarted, quietMs: quiet.waitedMs, checksMs: Date.now() - checksStarted },
      durationMs: Date.now() - started,
    };
  } finally {
    workload?.stop();
    // Bounded, and each step regardless of the others.
    const step = (work: Promise<unknown> | undefined, what: string): Promise<unknown> =>
      work ? withTimeout(work, 10_000, what).catch((error: unknown) => log(`cleanup: ${String(error)}`)) : Promise.resolve();
    await step(cluster?.stopAll(), "stopping the service processes");
    await step(deleteRedisKeys(redis, keyRoot), "deleting the Redis keys");
    redis.disconnect();
    await step(client?.dispose(), "closing the event store client");
    await step(eventStore?.stop(3000), "stopping the event store");
    if (eventStore?.alive()) await eventStore.kill();
    await step(rm(dataDir, { recursive: true, force: true }), "removing the data directory");
  }
}

/** A human summary of a report (what was done, then the violations). */
export const describeReport = (report: CrashReport): string => {
  const lines = [
    `mode ${report.mode}, seed ${report.seed}: ${report.workload.answered}/${report.requests} answers (${report.workload.sent} sent, ${report.workload.connectionErrors} connection errors), ${report.kills.length} kills, ${Math.round(report.durationMs / 1000)} s (setup ${report.timings.setupMs} ms, workload ${report.timings.workloadMs} ms, quiet ${report.timings.quietMs} ms, checks ${report.timings.checksMs} ms)`,
    `  kills: ${report.kills.map((kill) => `#${kill.n} ${kill.phase}@${kill.atMs}ms/${kill.answersSoFar}`).join(", ") || "none"}`,
    `  statuses: ${JSON.stringify(report.workload.statuses)}; actions: ${JSON.stringify(report.workload.actions)}`,
    `  reservations known to the driver: ${report.workload.reservationsPlaced}, placements given up: ${report.workload.placementsGivenUp}`,
    `  log: ${report.log.events} events; reservation/payment ${JSON.stringify(report.state.reservations)}; payments ${JSON.stringify(report.state.payments)}; notifications ${report.state.notifications}`,
    `  quiet: ${report.quiet.reached ? `after ${report.quiet.waitedMs} ms` : `NOT reached in ${report.quiet.waitedMs} ms (${report.quiet.lastBusy.join("; ")})`}; my pages: ${report.myPage.customers} customers, ${report.myPage.entries} entries, rebuild ${report.myPage.rebuildMs} ms`,
  ];
  if (report.serviceErrors.length > 0) {
    lines.push(`  service error lines (level ≥ error):`);
    for (const error of report.serviceErrors) {
      const { level: _level, time: _time, pid: _pid, hostname: _hostname, name: _name, msg: _msg, ...rest } = error.example;
      lines.push(`    ${error.count}× ${error.msg} e.g. ${JSON.stringify(rest).slice(0, 700)}`);
    }
  }
  return lines.join("\n");
};
