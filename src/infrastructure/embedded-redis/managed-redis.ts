import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Redis } from "ioredis";
import { freePort } from "../free-port.js";
import { startParentWatchdog } from "./parent-watchdog.js";
import { clearStaleServer, type StaleServerOutcome } from "./stale-server.js";
import { type IdentityProbe, probeClient } from "./process-identity.js";
import { removeServerRecord, writeServerRecord } from "./server-record.js";

export const REDIS_LOG_FILE = "redis.log";

export interface ManagedRedisOptions {
  /** The `redis-server` executable. */
  readonly binary: string;
  /** Its working directory: pid file, log and (when persistent) the append-only file. */
  readonly dir: string;
  /** 0: any free port. */
  readonly port: number;
  /** Append-only file on, so read models and schedules survive a restart; off: nothing on disk (tests). */
  readonly persistent: boolean;
  readonly startTimeoutMs?: number;
  /** Called when the server exits while the service still needs it. */
  readonly onUnexpectedExit?: (how: string) => void;
  readonly probe?: IdentityProbe;
}

export interface ManagedRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly dir: string;
  /** What was found in `dir` before this server started. */
  readonly stale: StaleServerOutcome;
  stop(): Promise<void>;
}

const FREE_PORT_ATTEMPTS = 3;
const STOP_GRACE_MS = 10_000;

const serverArguments = (options: ManagedRedisOptions, dir: string, port: number): string[] => [
  "--port",
  String(port),
  "--bind",
  "127.0.0.1",
  "--dir",
  dir,
  "--logfile",
  path.join(dir, REDIS_LOG_FILE),
  "--daemonize",
  "no",
  // One persistence mechanism: the append-only file, fsynced every second.
  "--save",
  "",
  ...(options.persistent ? ["--appendonly", "yes", "--appendfsync", "everysec"] : ["--appendonly", "no"]),
];

const logTail = (dir: string): string => {
  try {
    return readFileSync(path.join(dir, REDIS_LOG_FILE), "utf8").trim().split("\n").slice(-5).join("\n");
  } catch {
    return "";
  }
};

const describeExit = (code: number | null, signal: NodeJS.Signals | null): string =>
  signal === null ? `exit code ${code}` : `signal ${signal}`;

/** The pid of the Redis answering on `port`, or undefined while nothing answers there yet. */
const answeringPid = async (client: Redis): Promise<number | undefined> => {
  try {
    await client.connect();
    // INFO works while Redis loads its data, PING does not: first make sure it is ours, then wait for PONG.
    const pid = Number(/^process_id:(\d+)/m.exec(await client.info("server"))?.[1]);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
};

/**
 * Resolves once the server answers PING (after loading its append-only file); rejects if it exits
 * first, or if another Redis already answers on the port (ours would fail to bind it).
 */
const waitUntilReady = async (
  child: ChildProcess,
  pid: number,
  exited: Promise<string>,
  port: number,
  timeoutMs: number,
): Promise<void> => {
  let exit: string | undefined;
  void exited.then((how) => (exit = how));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exit !== undefined) throw new Error(`redis-server exited (${exit}) before it was ready`);
    const client = probeClient(port, 1000);
    try {
      const answering = await answeringPid(client);
      if (answering !== undefined && answering !== pid) {
        child.kill("SIGKILL");
        throw new Error(`port ${port} is taken by another Redis (pid ${answering})`);
      }
      if (answering === pid && (await client.ping().catch(() => undefined)) === "PONG") return;
    } finally {
      client.disconnect();
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/**
 * Starts a redis-server this process owns: bound to loopback, working in `dir`, recorded in a pid
 * file there, stopped by `stop()`, by this process's exit, or by a watchdog when this process is
 * killed outright. A server an earlier, killed service left in `dir` is stopped first.
 */
export const startManagedRedis = async (options: ManagedRedisOptions): Promise<ManagedRedis> => {
  const dir = path.resolve(options.dir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // The server has no password: its files at least are the service user's alone.
  chmodSync(dir, 0o700);
  const stale = await clearStaleServer(dir, options.probe);
  const attempts = options.port === 0 ? FREE_PORT_ATTEMPTS : 1;
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port === 0 ? await freePort() : options.port;
    try {
      return await launch(options, dir, port, stale);
    } catch (error) {
      // A free port can be taken between choosing and binding it: choose again.
      if (attempt >= attempts) throw error;
    }
  }
};

const launch = async (options: ManagedRedisOptions, dir: string, port: number, stale: StaleServerOutcome): Promise<ManagedRedis> => {
  const child = spawn(options.binary, serverArguments(options, dir, port), {
    cwd: dir,
    // Its own session: Ctrl-C reaches the service, which stops Redis after the workers that write to it.
    detached: true,
    stdio: "ignore",
  });
  const exited = new Promise<string>((resolve) => {
    child.once("error", (error) => resolve(error.message));
    child.once("exit", (code, signal) => resolve(describeExit(code, signal)));
  });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.binary}: ${await exited}`);
  writeServerRecord({ pid, port, ownerPid: process.pid, dir });
  const watchdog = startParentWatchdog(pid);
  // Synchronous, so it also runs on process.exit(); the watchdog covers what cannot run it (SIGKILL).
  const onExit = (): void => {
    child.kill("SIGTERM");
  };
  process.once("exit", onExit);
  let stopping = false;
  let ready = false;
  const cleanUp = (): void => {
    process.removeListener("exit", onExit);
    // The watchdog must never outlive its server: its pid could be reused.
    watchdog.kill("SIGKILL");
    removeServerRecord(dir);
  };
  void exited.then((how) => {
    cleanUp();
    if (!ready || stopping) return;
    const tail = logTail(dir);
    options.onUnexpectedExit?.(`${how}${tail === "" ? "" : `; its log ends with:\n${tail}`}`);
  });

  try {
    await waitUntilReady(child, pid, exited, port, options.startTimeoutMs ?? 30_000);
    ready = true;
  } catch (error) {
    stopping = true;
    await exited;
    const tail = logTail(dir);
    throw new Error(`${(error as Error).message}${tail === "" ? "" : `; ${path.join(dir, REDIS_LOG_FILE)} ends with:\n${tail}`}`, {
      cause: error,
    });
  }

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid,
    dir,
    stale,
    stop: async () => {
      if (stopping) return;
      stopping = true;
      // SIGTERM: Redis writes out its append-only file and exits; SIGKILL only if it will not.
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
};
