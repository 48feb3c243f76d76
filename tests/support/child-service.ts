/**
 * The one child-process harness of the suites that must see the system as separate programs (the
 * concurrency, load and crash suites, the eventstore CLI tests): the embedded EventStoreDB
 * (`src/embedded-eventstore/cli.ts`) and the service (`src/main.ts`), each started with
 * `node --import tsx` (one process each, no wrapper, so signals reach the program itself). Output is
 * drained line by line because a full pipe would stall the child. Every child is registered so that
 * `killAllChildren()` (afterAll, and a last-resort `exit` hook) leaves nothing running.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export const ES_LISTENING = /listening on (esdb:\/\/127\.0\.0\.1:(\d+)\?tls=false)/;
const API_LISTENING = "reservations API listening on";

/** A parsed pino line of the service. */
export type LogLine = Record<string, unknown> & { level?: number; msg?: string; time?: number };

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

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
  /** The last stdout lines (at most `keepLines`). */
  readonly lines: string[];
  /** Parsed log lines at warn (40) and above (bounded). */
  readonly problems: LogLine[];
  stderr(): string;
  readonly exited: Promise<ExitStatus>;
  alive(): boolean;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** `signal` (SIGTERM by default), then SIGKILL after `graceMs`; resolves with how it exited. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<ExitStatus>;
  /** Resolves with the first line `match` accepts; rejects on exit (`ChildExitedError`) or after `timeoutMs`. */
  waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T>;
  /** The tail of stdout and stderr, for error messages. */
  tail(lines?: number): string;
}

/** The child exited before it became ready (e.g. it was killed while starting). */
export class ChildExitedError extends Error {
  override readonly name = "ChildExitedError";
}

export const parseLogLine = (line: string): LogLine | undefined => {
  if (!line.startsWith("{")) return undefined;
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
};

/** The URL of the service's `reservations API listening on <url>` line, undefined for any other line. */
export const apiListeningUrl = (line: string): string | undefined => {
  const parsed = parseLogLine(line);
  if (typeof parsed?.msg !== "string" || !parsed.msg.startsWith(API_LISTENING)) return undefined;
  return typeof parsed.url === "string" ? parsed.url : /listening on (\S+)/.exec(parsed.msg)?.[1];
};

export interface SpawnOptions {
  /** How many stdout lines to keep; 300 unless told. */
  readonly keepLines?: number;
  /** Sees every stdout line (after it is kept). */
  readonly onLine?: (line: string) => void;
}

/** `node --import tsx <args>` in the repository root with `env` over the caller's environment. */
export function spawnNode(label: string, args: readonly string[], env: NodeJS.ProcessEnv, options: SpawnOptions = {}): Child {
  installExitHook();
  const keepLines = options.keepLines ?? 300;
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
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    partial += chunk;
    let newline: number;
    while ((newline = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, newline).replace(/\r$/, "");
      partial = partial.slice(newline + 1);
      lines.push(line);
      if (lines.length > keepLines) lines.splice(0, lines.length - keepLines);
      const parsed = parseLogLine(line);
      if (parsed && typeof parsed.level === "number" && parsed.level >= 40 && problems.length < 2000) problems.push(parsed);
      options.onLine?.(line);
      for (const waiter of waiters) waiter(line);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const alive = (): boolean => child.exitCode === null && child.signalCode === null;
  const tail = (count = 30): string => `stdout (tail):\n${lines.slice(-count).join("\n")}\nstderr (tail):\n${stderr.slice(-4000)}`;

  const kill = async (): Promise<void> => {
    if (alive()) child.kill("SIGKILL");
    await exited;
  };
  const stop = async (graceMs = 5000, signal: NodeJS.Signals = "SIGTERM"): Promise<ExitStatus> => {
    if (!alive()) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
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

/** Resolves with `ready`; a child that never got ready is killed before the failure is passed on. */
export async function killUnlessReady<T>(child: Child, ready: Promise<T>): Promise<T> {
  try {
    return await ready;
  } catch (error) {
    await child.kill();
    throw error;
  }
}

export interface EventStoreChild extends Child {
  readonly connectionString: string;
  readonly port: number;
}

export interface EventStoreChildOptions {
  /** A durable data directory; in memory when absent. */
  readonly dataDir?: string;
  /** 0 (any free port) unless told. */
  readonly port?: number;
  /** Replaces the storage and port arguments altogether (the CLI tests try every flag). */
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  readonly keepLines?: number;
}

/** `node --import tsx src/embedded-eventstore/cli.ts --port <port> --memory` (or `--data <dir>`), once it listens. */
export async function startEventStoreChild(options: EventStoreChildOptions = {}): Promise<EventStoreChild> {
  const storage = options.dataDir === undefined ? ["--memory"] : ["--data", options.dataDir];
  const args = options.args ?? ["--port", String(options.port ?? 0), ...storage];
  const child = spawnNode(
    "eventstore",
    [path.join("src", "embedded-eventstore", "cli.ts"), ...args],
    {},
    {
      ...(options.keepLines === undefined ? {} : { keepLines: options.keepLines }),
    },
  );
  const [connectionString, port] = await killUnlessReady(
    child,
    child.waitFor(
      (line) => {
        const found = ES_LISTENING.exec(line);
        return found?.[1] === undefined ? undefined : ([found[1], Number(found[2])] as const);
      },
      options.timeoutMs ?? 60_000,
      "the embedded EventStoreDB",
    ),
  );
  return { ...child, connectionString, port };
}

/** Spawns `node --import tsx src/main.ts` with `env` (LOG_LEVEL info unless told); does not wait. */
export const spawnServiceChild = (label: string, env: NodeJS.ProcessEnv, options: SpawnOptions = {}): Child =>
  spawnNode(label, [path.join("src", "main.ts")], { LOG_LEVEL: "info", ...env }, options);

/** Resolves with the URL the service logged it listens on (its LOG_LEVEL must be info or lower). */
export const waitForListening = (child: Child, timeoutMs: number): Promise<string> =>
  child.waitFor(apiListeningUrl, timeoutMs, "the reservations API");

/** Polls `<url>/health/live` every `intervalMs` until it answers 200; for services too quiet to log their URL. */
export async function waitForLive(child: Child, url: string, timeoutMs: number, intervalMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.alive()) throw new ChildExitedError(`the reservations API exited before it was ready\n${child.tail()}`);
    const live = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (live) return;
    if (Date.now() > deadline) throw new Error(`the reservations API did not answer ${url}/health/live within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Resolves with the service's URL: from its `reservations API listening on <url>` line (LOG_LEVEL
 * info or lower), or, given the `url` it was told to listen on, once `/health/live` answers (any
 * LOG_LEVEL). A service that never gets there is killed.
 */
export const serviceUrl = (
  child: Child,
  timeoutMs: number,
  known?: { readonly url: string; readonly intervalMs: number },
): Promise<string> =>
  killUnlessReady(
    child,
    known === undefined
      ? waitForListening(child, timeoutMs)
      : waitForLive(child, known.url, timeoutMs, known.intervalMs).then(() => known.url),
  );

export interface RunToExitOptions {
  /** The repository root unless told. */
  readonly cwd?: string;
  /** The child's whole environment; the caller's (with FORCE_COLOR=0) unless told. */
  readonly env?: NodeJS.ProcessEnv;
  /** What `--import` loads: `tsx` resolves from the repository root only, so another cwd passes its file URL. */
  readonly tsx?: string;
}

/** Runs `node --import tsx <args>` to its end (SIGKILL after a minute); its exit code and its stdout and stderr as one text. */
export const runToExit = (args: readonly string[], options: RunToExitOptions = {}): Promise<{ code: number | null; output: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", options.tsx ?? "tsx", ...args], {
      cwd: options.cwd ?? repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: options.env ?? { ...process.env, FORCE_COLOR: "0" },
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
