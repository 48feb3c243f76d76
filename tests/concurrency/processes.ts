/**
 * Child processes for tests and benchmarks that must see the system as separate programs: the
 * embedded EventStoreDB (`src/embedded-eventstore/cli.ts`) and the service (`src/main.ts`), each
 * started with `node --import tsx` (one process each, no wrapper), their output drained so that a
 * full pipe never stalls them, and stopped by pid with SIGTERM then SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/free-port.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const ES_LISTENING = /listening on (esdb:\/\/127\.0\.0\.1:(\d+)\?tls=false)/;
const API_LISTENING = "reservations API listening on";

export interface ChildHandle {
  readonly child: ChildProcess;
  /** Every stdout line so far (capped at the last `keepLines`). */
  readonly lines: string[];
  stderr(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

export interface EventStoreProcess extends ChildHandle {
  readonly connectionString: string;
}

/** A parsed pino line of the service. */
export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

export interface AppProcess extends ChildHandle {
  readonly url: string;
  /** Parsed JSON log lines at level warn (40) and above, for post-mortems and assertions. */
  readonly problems: LogLine[];
  /** How many log lines the process wrote (access log lines included). */
  lineCount(): number;
}

interface Spawned extends ChildHandle {
  /** Resolves with the first line `match` accepts; rejects on exit or after `timeoutMs`. */
  waitFor<T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T>;
}

function spawnNode(args: readonly string[], env: NodeJS.ProcessEnv, onLine: (line: string) => void = () => {}, keepLines = 2000): Spawned {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, FORCE_COLOR: "0", ...env },
  });
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
      const line = partial.slice(0, newline).replace(/\r$/, "");
      partial = partial.slice(newline + 1);
      lines.push(line);
      if (lines.length > keepLines) lines.splice(0, lines.length - keepLines);
      onLine(line);
      for (const waiter of waiters) waiter(line);
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });

  const stop = async (graceMs = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  };

  const waitFor = <T>(match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const describe = () => `\nstdout (tail):\n${lines.slice(-30).join("\n")}\nstderr (tail):\n${stderr.slice(-4000)}`;
      const timer = setTimeout(() => {
        waiters.delete(check);
        void stop(0);
        reject(new Error(`${what} did not start within ${timeoutMs} ms${describe()}`));
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

  return { child, lines, stderr: () => stderr, exited, stop, waitFor };
}

/** `node --import tsx src/embedded-eventstore/cli.ts --port 0 --memory` (or `--data <dir>`). */
export async function startEventStoreProcess(options: { dataDir?: string; timeoutMs?: number } = {}): Promise<EventStoreProcess> {
  const storage = options.dataDir === undefined ? ["--memory"] : ["--data", options.dataDir];
  const spawned = spawnNode([path.join("src", "embedded-eventstore", "cli.ts"), "--port", "0", ...storage], {});
  const { waitFor, ...handle } = spawned;
  const connectionString = await waitFor((line) => ES_LISTENING.exec(line)?.[1], options.timeoutMs ?? 60_000, "the embedded EventStoreDB");
  return { ...handle, connectionString };
}

/**
 * `node --import tsx src/main.ts` with `env` over the caller's environment; resolves with the URL
 * from its `reservations API listening on <url>` log line (so `LOG_LEVEL` must be info or lower).
 * With `options.url` (the caller chose `PORT`), it polls `<url>/health/live` instead, so any
 * `LOG_LEVEL` works.
 */
export async function startAppProcess(env: NodeJS.ProcessEnv, options: { timeoutMs?: number; url?: string } = {}): Promise<AppProcess> {
  const problems: LogLine[] = [];
  let count = 0;
  const parse = (line: string): LogLine | undefined => {
    if (!line.startsWith("{")) return undefined;
    try {
      return JSON.parse(line) as LogLine;
    } catch {
      return undefined;
    }
  };
  const spawned = spawnNode(
    [path.join("src", "main.ts")],
    { PORT: "0", LOG_LEVEL: "info", ...env },
    (line) => {
      count += 1;
      const parsed = parse(line);
      if (parsed !== undefined && typeof parsed.level === "number" && parsed.level >= 40) problems.push(parsed);
    },
    200,
  );
  const timeoutMs = options.timeoutMs ?? 90_000;
  const { waitFor, ...handle } = spawned;
  let url: string;
  if (options.url === undefined) {
    url = await waitFor(
      (line) => {
        const parsed = parse(line);
        if (typeof parsed?.msg !== "string" || !parsed.msg.startsWith(API_LISTENING)) return undefined;
        return typeof parsed.url === "string" ? parsed.url : /listening on (\S+)/.exec(parsed.msg)?.[1];
      },
      timeoutMs,
      "the reservations API",
    );
  } else {
    url = options.url;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (handle.child.exitCode !== null || handle.child.signalCode !== null) {
        throw new Error(`the reservations API exited before it was ready\nstderr (tail):\n${handle.stderr().slice(-4000)}`);
      }
      const live = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(1000) }).then(
        (response) => response.status === 200,
        () => false,
      );
      if (live) break;
      if (Date.now() > deadline) {
        await handle.stop(0);
        throw new Error(`the reservations API did not answer ${url}/health/live within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  return { ...handle, url, problems, lineCount: () => count };
}

export { freePort };
