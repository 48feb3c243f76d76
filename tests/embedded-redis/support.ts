import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import { Redis } from "ioredis";
import { findRedisServer } from "../../src/infrastructure/embedded-redis/redis-binary.js";
import { freePort } from "../support/free-port.js";

export const REDIS_SERVER = findRedisServer();

/** Linux: the pids of every redis-server on the machine whose working directory is `dir`. */
export const redisServersIn = (dir: string): number[] => {
  const want = realpathSync(dir);
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() !== "redis-server") continue;
      if (readlinkSync(`/proc/${entry}/cwd`) === want) found.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to look at
    }
  }
  return found;
};

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process whose new parent (PID 1 here) has not reaped it yet still answers signal 0.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

/** Polls until `check` passes or `timeoutMs` runs out (then its last error is thrown). */
export const within = async <T>(timeoutMs: number, check: () => T | Promise<T>): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
};

/** A pid that certainly ran a moment ago and no longer does. */
export const deadPid = async (): Promise<number> => {
  const child = spawn("true", { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid ?? 999_999;
};

/**
 * A redis-server started behind the manager's back (no watchdog, its own session), as one that
 * outlived a killed service would be; `stop()` is the test's cleanup.
 */
export const startLooseRedis = async (dir: string): Promise<{ pid: number; port: number; child: ChildProcess; stop(): void }> => {
  const port = await freePort();
  const child = spawn(
    REDIS_SERVER ?? "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    {
      cwd: dir,
      detached: true,
      stdio: "ignore",
    },
  );
  await within(10_000, async () => {
    const client = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
  return {
    pid: child.pid ?? 0,
    port,
    child,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
};

export const connect = async (url: string): Promise<Redis> => {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => undefined);
  await client.connect();
  return client;
};

/** Linux: the pids of the parent watchdogs that guard redis-server `pid`. */
export const watchdogsOf = (pid: number): number[] => {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes("managed-redis-watchdog") && argv.includes(String(pid))) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
};
