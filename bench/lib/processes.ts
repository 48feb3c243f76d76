/**
 * The processes a bench measures: the compiled service (`node dist/src/main.js`, what `npm start`
 * and the Docker image run) and the bare-Koa reference app, each a child of the bench so that the
 * load generator never shares their event loop.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../tests/support/free-port.js";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface ChildService {
  readonly url: string;
  readonly child: ChildProcess;
  /** CPU seconds (user + system) the process has used so far; NaN where /proc is missing. */
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** `tsc -b tsconfig.build.json`: the same incremental build `npm start` runs (seconds when nothing changed). */
export const buildService = (): void => {
  execFileSync(process.execPath, [path.join(repoRoot, "node_modules", "typescript", "bin", "tsc"), "-b", "tsconfig.build.json"], {
    cwd: repoRoot,
    stdio: ["ignore", "inherit", "inherit"],
  });
};

const cpuSecondsOf = (pid: number | undefined): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "pid (comm) ": utime and stime are the 12th and 13th fields, in clock ticks (100/s on Linux).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
};

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Forwards the child's output to our stderr, prefixed, up to `maxLines` lines: enough to see why a
 * run went wrong without a flood of identical warnings drowning the progress lines.
 */
const relayOutput = (child: ChildProcess, label: string, maxLines = 20): void => {
  let relayed = 0;
  let dropped = 0;
  const relay = (chunk: Buffer): void => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      if (relayed < maxLines) {
        relayed += 1;
        process.stderr.write(`  [${label}] ${line.slice(0, 400)}\n`);
      } else dropped += 1;
    }
  };
  child.stdout?.on("data", relay);
  child.stderr?.on("data", relay);
  child.once("exit", () => {
    if (dropped > 0) process.stderr.write(`  [${label}] (${dropped} more lines not shown)\n`);
  });
};

const handle = (child: ChildProcess, url: string): ChildService => {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    url,
    child,
    cpuSeconds: () => cpuSecondsOf(child.pid),
    stop: async (graceMs = 20_000) => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(timer);
      }
    },
  };
};

/** Polls `url` until it answers 200; fails when the child exits first or after `timeoutMs`. */
const waitUntilOk = async (child: ChildProcess, url: string, timeoutMs: number): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the service exited (${child.exitCode ?? child.signalCode}) before ${url} answered`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(200);
  }
};

export interface CompiledServiceOptions {
  /** Over the bench's own environment; PORT is chosen here, the embedded store takes any free port. */
  readonly env: NodeJS.ProcessEnv;
  /** `live`: the HTTP server answers; `ready`: also Redis and the consumer groups (ROLE=all). */
  readonly waitFor?: "live" | "ready";
  readonly timeoutMs?: number;
  readonly label?: string;
  /** Extra Node flags, e.g. `--cpu-prof` for a profile (not allowed in NODE_OPTIONS). */
  readonly nodeArgs?: readonly string[];
}

/** `node --enable-source-maps dist/src/main.js`, exactly as `npm start` runs it (call `buildService` first). */
export const startCompiledService = async (options: CompiledServiceOptions): Promise<ChildService> => {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "--enable-source-maps", path.join("dist", "src", "main.js")], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, EMBEDDED_EVENTSTORE_PORT: "0", ...options.env, PORT: String(port), HOST: "127.0.0.1", FORCE_COLOR: "0" },
  });
  relayOutput(child, options.label ?? "service");
  const url = `http://127.0.0.1:${port}`;
  const service = handle(child, url);
  try {
    await waitUntilOk(child, `${url}/health/${options.waitFor ?? "live"}`, options.timeoutMs ?? 120_000);
  } catch (error) {
    await service.stop(0);
    throw error;
  }
  return service;
};

/** The bare-Koa reference app (`bare-koa-app.ts`) in its own process. */
export const startBareKoa = async (timeoutMs = 60_000): Promise<ChildService> => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join("bench", "lib", "bare-koa-app.ts")], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: "0", NODE_ENV: "production" },
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bare Koa app did not start within ${timeoutMs} ms`)), timeoutMs);
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /listening (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`  [bare koa] ${chunk.toString("utf8")}`));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the bare Koa app exited (${code}) before it listened`));
    });
  });
  return handle(child, `http://127.0.0.1:${port}`);
};

/**
 * Waits until the service has no write command in flight (`http_commands_in_flight` is 0): when a
 * load run ends, the requests it abandoned are still being processed, and stopping the service
 * under them only produces cancellation errors in its log.
 */
export const waitUntilIdle = async (url: string, timeoutMs = 30_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) }).then(
      (response) => response.text(),
      () => "",
    );
    if (/^http_commands_in_flight(\{[^}]*\})? 0$/m.test(text)) return;
    await sleep(200);
  }
};
