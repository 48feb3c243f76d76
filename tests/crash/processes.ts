/**
 * Child processes of the crash test: the embedded EventStoreDB (long-lived, never killed) and the
 * service (`node --import tsx src/main.ts`), which the test SIGKILLs and starts again. Each child's
 * output is drained (a full pipe would stall it) and its warnings and errors are kept for the
 * report. Every child is registered so that `killAllChildren()` (afterAll, and a last-resort
 * `exit` hook) leaves nothing running.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/free-port.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const ES_LISTENING = /listening on (esdb:\/\/127\.0\.0\.1:(\d+)\?tls=false)/;
const API_LISTENING = "reservations API listening on";
const WORKER_STARTED = "worker started";

/** A parsed pino line of the service. */
export type LogLine = Record<string, unknown> & { level?: number; msg?: string; time?: number };

const running = new Set<ChildProcess>();

/** SIGKILLs every child this module started that is still alive (synchronous: usable in an `exit` hook). */
export function killAllChildren(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  running.clear();
}

let exitHookInstalled = false;
const installExitHook = (): void => {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", killAllChildren);
};

export interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly label: string;
  /** The last stdout lines (bounded). */
  readonly lines: string[];
  /** Parsed log lines at warn (40) and above (bounded). */
  readonly problems: LogLine[];
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
  /** Resolves with the first line `match` accepts; rejects on exit or after `timeoutMs`. */
  waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T>;
  /** The tail of stdout and stderr, for error messages. */
  tail(lines?: number): string;
}

const parseLine = (line: string): LogLine | undefined => {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
};

function spawnNode(label: string, args: readonly string[], env: NodeJS.ProcessEnv): Child {
  installExitHook();
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", ...env },
  });
  running.add(child);
  const lines: string[] = [];
  const problems: LogLine[] = [];
  let stderr = "";
  let partial = "";
  const waiters = new Set<(line: string) => void>();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (chunk: string) => {
    partial += chunk;
    let newline: number;
    while ((newline = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, newline).replace(/\r$/, "");
      partial = partial.slice(newline + 1);
      lines.push(line);
      if (lines.length > 300) lines.splice(0, lines.length - 300);
      const parsed = parseLine(line);
      if (parsed && typeof parsed.level === "number" && parsed.level >= 40 && problems.length < 2000) problems.push(parsed);
      for (const waiter of waiters) waiter(line);
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const tail = (count = 30): string =>
    `stdout (tail):\n${lines.slice(-count).join("\n")}\nstderr (tail):\n${stderr.slice(-4000)}`;

  const kill = async (): Promise<void> => {
    if (alive()) child.kill("SIGKILL");
    await exited;
  };
  const stop = async (graceMs = 5000): Promise<void> => {
    if (!alive()) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };
  const waitFor = <T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        waiters.delete(check);
        reject(new Error(`${what} was not ready within ${timeoutMs} ms\n${tail()}`));
      }, timeoutMs);
      const check = (line: string): void => {
        if (settled) return;
        const found = match(line);
        if (found === undefined) return;
        settled = true;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      for (const line of lines) check(line);
      void exited.then(({ code, signal }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        waiters.delete(check);
        reject(new ChildExitedError(`${what} exited (code ${code}, signal ${signal}) before it was ready\n${tail()}`));
      });
    });

  return { child, pid: child.pid ?? -1, label, lines, problems, stderr: () => stderr, exited, alive, kill, stop, waitFor, tail };
}

/** The child exited before it became ready (e.g. it was killed while starting). */
export class ChildExitedError extends Error {
  override readonly name = "ChildExitedError";
}

export interface EventStoreChild extends Child {
  readonly connectionString: string;
}

/** `node --import tsx src/embedded-eventstore/cli.ts --port 0 --data <dir>`. */
export async function startEventStoreChild(dataDir: string, timeoutMs = 60_000): Promise<EventStoreChild> {
  const child = spawnNode("eventstore", [path.join("src", "embedded-eventstore", "cli.ts"), "--port", "0", "--data", dataDir], {});
  try {
    const connectionString = await child.waitFor((line) => ES_LISTENING.exec(line)?.[1], timeoutMs, "the embedded EventStoreDB");
    return { ...child, connectionString };
  } catch (error) {
    await child.kill();
    throw error;
  }
}

export type ServiceRole = "all" | "api" | "worker";

export interface ServiceChild extends Child {
  readonly role: ServiceRole;
  /** Resolves once the process logged that it is ready (its URL for api/all). */
  readonly ready: Promise<string | undefined>;
}

/**
 * Spawns `node --import tsx src/main.ts` with `env`. Does not wait: `ready` resolves with the API's
 * URL (roles api/all) or undefined (worker) once the process logged so, and rejects with
 * `ChildExitedError` when it dies first (the crash test kills processes while they start, too).
 */
export function spawnService(role: ServiceRole, env: NodeJS.ProcessEnv, timeoutMs = 60_000): ServiceChild {
  // A worker serves its own health endpoints: give it a free port of its own, not the API's.
  const child = spawnNode(`service(${role})`, [path.join("src", "main.ts")], {
    LOG_LEVEL: "info",
    ...env,
    ROLE: role,
    ...(role === "worker" ? { PORT: "0" } : {}),
  });
  const ready = child.waitFor<string | undefined>(
    (line) => {
      const parsed = parseLine(line);
      if (typeof parsed?.msg !== "string") return undefined;
      if (role === "worker") return parsed.msg.startsWith(WORKER_STARTED) ? "" : undefined;
      if (!parsed.msg.startsWith(API_LISTENING)) return undefined;
      return typeof parsed.url === "string" ? parsed.url : /listening on (\S+)/.exec(parsed.msg)?.[1];
    },
    timeoutMs,
    `the service (ROLE=${role})`,
  );
  const readyUrl = ready.then((url) => (url === "" ? undefined : url));
  // A process killed while starting rejects `ready`; whoever awaits it handles that.
  readyUrl.catch(() => undefined);
  return { ...child, role, ready: readyUrl };
}

export { freePort };
