/**
 * The system under load as separate programs, as it runs in production: the embedded EventStoreDB
 * (`src/embedded-eventstore/cli.ts`, durable data directory) and one service process
 * (`src/main.ts`, `EVENTSTORE_URL` pointing at that store). Each child is `node --import tsx`, its
 * output drained so a full pipe never stalls it, and stopped by its own pid only.
 *
 * The store can be killed (`SIGKILL`, a crash) and started again on the same port and data
 * directory, so the service's connection string stays valid and it must recover by itself.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/free-port.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const ES_LISTENING = /listening on (esdb:\/\/127\.0\.0\.1:(\d+)\?tls=false)/;
const API_LISTENING = "reservations API listening on";

export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The last stdout lines (at most 300). */
  readonly lines: string[];
  stderr(): string;
  alive(): boolean;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** `signal` (SIGTERM by default), then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
  /** Resolves with the first stdout line `match` accepts; rejects when the process exits or after `timeoutMs`. */
  waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T>;
}

function spawnNode(args: readonly string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", ...env },
  });
  if (child.pid === undefined) throw new Error(`could not start node ${args.join(" ")}`);
  const pid = child.pid;
  const lines: string[] = [];
  let stderr = "";
  let partial = "";
  const waiters = new Set<(line: string) => void>();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    partial += chunk;
    let newline: number;
    while ((newline = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, newline);
      partial = partial.slice(newline + 1);
      lines.push(line);
      if (lines.length > 300) lines.splice(0, lines.length - 300);
      for (const waiter of waiters) waiter(line);
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;

  const stop = async (signal: NodeJS.Signals = "SIGTERM", graceMs = 5000): Promise<void> => {
    if (!alive()) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const waitFor = <T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const describe = (): string => `\nstdout (tail):\n${lines.slice(-20).join("\n")}\nstderr (tail):\n${stderr.slice(-4000)}`;
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`${what} was not ready within ${timeoutMs} ms${describe()}`));
      }, timeoutMs);
      const check = (line: string): void => {
        const found = match(line);
        if (found === undefined) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      for (const line of lines) check(line);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        if (waiters.delete(check)) reject(new Error(`${what} exited (code ${code}, signal ${signal}) before it was ready${describe()}`));
      });
    });

  return { child, pid, lines, stderr: () => stderr, alive, exited, stop, waitFor };
}

export interface StoreProcess extends Child {
  readonly connectionString: string;
  readonly port: number;
}

/** `node --import tsx src/embedded-eventstore/cli.ts --port <port> --data <dataDir>`; port 0: any free port. */
export async function startStore(dataDir: string, port = 0, timeoutMs = 60_000): Promise<StoreProcess> {
  const child = spawnNode([path.join("src", "embedded-eventstore", "cli.ts"), "--port", String(port), "--data", dataDir], {});
  try {
    const [connectionString, boundPort] = await child.waitFor(
      (line) => {
        const found = ES_LISTENING.exec(line);
        return found?.[1] === undefined ? undefined : ([found[1], Number(found[2])] as const);
      },
      timeoutMs,
      "the embedded EventStoreDB",
    );
    return { ...child, connectionString, port: boundPort };
  } catch (error) {
    await child.stop("SIGKILL");
    throw error;
  }
}

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
  const env: NodeJS.ProcessEnv = {
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
  };
  const child = spawnNode([path.join("src", "main.ts")], env);
  const timeoutMs = settings.timeoutMs ?? 90_000;
  try {
    let url: string;
    if (logsListening) {
      url = await child.waitFor(
        (line) => {
          if (!line.startsWith("{")) return undefined;
          try {
            const parsed = JSON.parse(line) as { msg?: unknown; url?: unknown };
            if (typeof parsed.msg !== "string" || !parsed.msg.startsWith(API_LISTENING)) return undefined;
            return typeof parsed.url === "string" ? parsed.url : /listening on (\S+)/.exec(parsed.msg)?.[1];
          } catch {
            return undefined;
          }
        },
        timeoutMs,
        "the reservations API",
      );
    } else {
      url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (!child.alive()) throw new Error(`the reservations API exited before it was ready\nstderr (tail):\n${child.stderr().slice(-4000)}`);
        const live = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) }).then(
          (response) => response.status === 200,
          () => false,
        );
        if (live) break;
        if (Date.now() > deadline) throw new Error(`the reservations API did not answer ${url}/health/live within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return { ...child, url, secret };
  } catch (error) {
    await child.stop("SIGKILL");
    throw error;
  }
}

export { freePort };
