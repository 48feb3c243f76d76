/**
 * The system under load as separate programs, as it runs in production: the embedded EventStoreDB
 * (durable data directory) and one service process (`EVENTSTORE_URL` pointing at that store),
 * through the shared harness (tests/support/child-service.ts).
 *
 * The store can be killed (`SIGKILL`, a crash) and started again on the same port and data
 * directory, so the service's connection string stays valid and it must recover by itself.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomBytes, randomUUID } from "node:crypto";
import {
  repoRoot,
  serviceUrl,
  spawnServiceChild,
  startEventStoreChild,
  type Child,
  type EventStoreChild,
} from "../support/child-service.js";
import { freePort } from "../support/free-port.js";

export { freePort, repoRoot, type Child };

export type StoreProcess = EventStoreChild;

/** `node --import tsx src/embedded-eventstore/cli.ts --port <port> --data <dataDir>`; port 0: any free port. */
export const startStore = (dataDir: string, port = 0, timeoutMs = 60_000): Promise<StoreProcess> =>
  startEventStoreChild({ dataDir, port, timeoutMs });

/**
 * Starts the store again on `port` and `dataDir` after it was killed. The port was released a
 * moment ago; binding it can fail briefly, so a few attempts are made.
 */
export async function restartStore(dataDir: string, port: number, timeoutMs = 60_000): Promise<StoreProcess> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    try {
      return await startStore(dataDir, port, timeoutMs);
    } catch (error) {
      lastError = error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw lastError;
}

export interface ServiceProcess extends Child {
  readonly url: string;
  readonly secret: string;
}

export interface ServiceSettings {
  readonly eventStoreUrl: string;
  /** `api` by default: the write side only, so nothing (saga, hold expiry) changes products behind the load. */
  readonly role?: "api" | "all";
  /** `warn` by default: the access log (one info line per request) is not what is measured. */
  readonly logLevel?: string;
  readonly admission?: { readonly maxInFlight?: number; readonly maxQueued?: number; readonly queueTimeoutMs?: number };
  readonly secret?: string;
  readonly timeoutMs?: number;
}

/**
 * `node --import tsx src/main.ts` against `eventStoreUrl`, with a unique `READ_MODEL_KEY_ROOT` and
 * its own `AUTH_SECRET`. At `LOG_LEVEL` info (or more verbose) it listens on `PORT=0` and the URL is
 * taken from its `reservations API listening on <url>` line; at quieter levels that line is not
 * written, so it is given a free port and `/health/live` is polled.
 */
export async function startService(settings: ServiceSettings): Promise<ServiceProcess> {
  const secret = settings.secret ?? randomBytes(32).toString("hex");
  const logLevel = settings.logLevel ?? "warn";
  const logsListening = ["info", "debug", "trace"].includes(logLevel);
  const port = logsListening ? 0 : await freePort();
  const admission = settings.admission ?? {};
  const child = spawnServiceChild("service", {
    NODE_ENV: "production",
    ROLE: settings.role ?? "api",
    HOST: "127.0.0.1",
    PORT: String(port),
    EVENTSTORE_URL: settings.eventStoreUrl,
    AUTH_SECRET: secret,
    LOG_LEVEL: logLevel,
    READ_MODEL_KEY_ROOT: `load-${randomUUID()}`,
    // A few simulated customers place thousands: the hoarding cap would refuse them.
    MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
    REDIS_URL: TEST_REDIS_URL,
    ADMISSION_MAX_IN_FLIGHT: admission.maxInFlight === undefined ? "" : String(admission.maxInFlight),
    ADMISSION_MAX_QUEUED: admission.maxQueued === undefined ? "" : String(admission.maxQueued),
    ADMISSION_QUEUE_TIMEOUT_MS: admission.queueTimeoutMs === undefined ? "" : String(admission.queueTimeoutMs),
  });
  const timeoutMs = settings.timeoutMs ?? 90_000;
  const url = await serviceUrl(child, timeoutMs, logsListening ? undefined : { url: `http://127.0.0.1:${port}`, intervalMs: 100 });
  return { ...child, url, secret };
}
