/**
 * The scenario harness without any test-runner dependency, so that `bench/` scripts can use it too
 * (`support.ts` adds the vitest hooks and assertions on top).
 *
 * A scenario talks to a real service only through its HTTP API: `startService` in ROLE=all (API,
 * saga, notifier, projections in one process), the embedded event store (in memory unless a data
 * dir is given), the simulated payment provider and a real Redis. Every service gets a key root of
 * its own (`READ_MODEL_KEY_ROOT`), so runs sharing one Redis never see each other's keys, and
 * `stop()` deletes every key under that root.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { PROBLEM_TYPE_BASE } from "../../src/http/problem.js";
import type {
  MyPageResponse,
  NotificationResponse,
  PaymentResponse,
  ProductResponse,
  ReservationResponse,
} from "../../src/http/schemas.js";
import type { RunningService, ServiceOptions } from "../../src/service.js";
import {
  deleteKeysUnder,
  eventually as poll,
  settlesWithin,
  sleep,
  startServiceUnderTest,
  type PollOptions,
} from "../support/in-process-service.js";
import {
  PEOPLE,
  bearerClient,
  mintTokens,
  type ApiResponse,
  type HttpClient,
  type RequestOptions as ClientRequestOptions,
} from "../support/principals.js";

export type { ApiResponse, MyPageResponse, NotificationResponse, PaymentResponse, PollOptions, ProductResponse, ReservationResponse };
export { deleteKeysUnder, sleep };
export type MyPageItem = MyPageResponse["reservations"][number];

export const SHARED_REDIS_URL = TEST_REDIS_URL;

const { alice, bob, carol, sam, sue, ada } = PEOPLE;

/** The users of every scenario. */
export const USERS = { alice, bob, carol, seller: sam, seller2: sue, admin: ada } as const;

export type UserName = keyof typeof USERS;

/** `as`: one of `USERS`. */
export type RequestOptions = Omit<ClientRequestOptions<UserName>, "raw">;

export interface ScenarioOptions {
  /** Where Redis is; the test run's (TEST_REDIS_URL) unless told. */
  readonly redisUrl?: string;
  /** A durable data dir for the embedded event store; in memory when absent. */
  readonly dataDir?: string;
  /** Extra environment for `loadConfig`. */
  readonly env?: Readonly<Record<string, string>>;
  readonly service?: Omit<ServiceOptions, "inMemoryEventStore">;
  /** Label inside the key root (for humans reading Redis). */
  readonly label?: string;
}

export interface Scenario extends HttpClient<UserName> {
  readonly url: string;
  readonly service: RunningService;
  /** `READ_MODEL_KEY_ROOT` of this service. */
  readonly keyRoot: string;
  readonly redisUrl: string;
  readonly authSecret: string;
  /** Stops the service, then deletes every Redis key under its key root. */
  stop(): Promise<void>;
}

/** A fresh key root: `scn:<label>:<random>`. */
export const uniqueKeyRoot = (label = "scenario"): string => `scn:${label}:${randomUUID().slice(0, 8)}`;

/** Starts a real service (ROLE=all) with a key root of its own. */
export async function startScenario(options: ScenarioOptions = {}): Promise<Scenario> {
  const redisUrl = options.redisUrl ?? SHARED_REDIS_URL;
  const keyRoot = uniqueKeyRoot(options.label);
  const authSecret = `scenario-secret-${randomUUID()}`;
  const { url, service } = await startServiceUnderTest(
    {
      HOST: "127.0.0.1",
      AUTH_SECRET: authSecret,
      // SCENARIO_LOG_LEVEL=debug shows the service's log while debugging a scenario.
      LOG_LEVEL: process.env.SCENARIO_LOG_LEVEL ?? "silent",
      ROLE: "all",
      REDIS_URL: redisUrl,
      READ_MODEL_KEY_ROOT: keyRoot,
      ...(options.dataDir === undefined ? {} : { DATA_DIR: options.dataDir }),
      ...options.env,
    },
    { service: { ...options.service, inMemoryEventStore: options.dataDir === undefined } },
  );
  const tokens = await mintTokens(authSecret, USERS);
  const client = bearerClient<UserName>(url, (as) => tokens[as]);

  let stopped = false;
  return {
    url,
    service,
    keyRoot,
    redisUrl,
    authSecret,
    ...client,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      if (!(await settlesWithin(service.stop(), 15_000))) {
        process.stderr.write(`scenario: service.stop() did not finish within 15 s (key root ${keyRoot})\n`);
      }
      await deleteKeysUnder(redisUrl, keyRoot).catch((error: unknown) =>
        process.stderr.write(`scenario: could not delete the keys under ${keyRoot}: ${String(error)}\n`),
      );
    },
  };
}

/** `https://…/problems/<code>` → `<code>`; undefined for anything that is not a problem of ours. */
export const problemCode = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined;
  const type = (body as { type?: unknown }).type;
  return typeof type === "string" && type.startsWith(PROBLEM_TYPE_BASE) ? type.slice(PROBLEM_TYPE_BASE.length) : undefined;
};

/** Bounded polling for eventually consistent results (15 s unless told). */
export const eventually = <T>(check: () => Promise<T>, { timeoutMs = 15_000, intervalMs = 100 }: PollOptions = {}): Promise<T> =>
  poll(check, { timeoutMs, intervalMs });
