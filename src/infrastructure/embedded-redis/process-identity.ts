import { existsSync, readFileSync, readlinkSync, realpathSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

const canonical = (dir: string): string => {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
};

/** Linux: what /proc says about a process, or undefined when it is gone or hidden. */
const fromProc = (procRoot: string, pid: number): { command: string; cwd: string } | undefined => {
  try {
    return { command: readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim(), cwd: readlinkSync(`${procRoot}/${pid}/cwd`) };
  } catch {
    return undefined;
  }
};

/**
 * A client for one question to a local Redis that may not be there: no retries, no reconnects, no
 * error events, and at most `timeoutMs` per step. The caller disconnects it.
 */
export const probeClient = (port: number, timeoutMs: number): Redis => {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
  });
  client.on("error", () => undefined);
  return client;
};

/** Asks the server itself (platforms without /proc): its process id and working directory. */
const fromServer = async (port: number): Promise<{ pid: number; cwd: string } | undefined> => {
  const client = probeClient(port, 2000);
  try {
    await client.connect();
    const info = await client.info("server");
    const pid = Number(/^process_id:(\d+)/m.exec(info)?.[1]);
    const dir = (await client.config("GET", "dir")) as unknown;
    const cwd = Array.isArray(dir) && typeof dir[1] === "string" ? dir[1] : undefined;
    return Number.isInteger(pid) && cwd !== undefined ? { pid, cwd } : undefined;
  } catch {
    return undefined;
  } finally {
    client.disconnect();
  }
};

export interface IdentityProbe {
  /** Where procfs is mounted; a missing folder makes the probe ask the server over `port` instead. */
  readonly procRoot?: string;
}

/**
 * True only when `pid` is a running redis-server working in `dir` (Redis changes into its `dir`),
 * so that a pid file whose pid was reused by another program never gets that program killed.
 */
export const isRedisServerOf = async (pid: number, port: number, dir: string, probe: IdentityProbe = {}): Promise<boolean> => {
  if (!isAlive(pid)) return false;
  const procRoot = probe.procRoot ?? "/proc";
  const want = canonical(dir);
  if (existsSync(procRoot)) {
    const seen = fromProc(procRoot, pid);
    return seen !== undefined && seen.command === "redis-server" && canonical(seen.cwd) === want;
  }
  const seen = await fromServer(port);
  return seen !== undefined && seen.pid === pid && canonical(seen.cwd) === want;
};

/** Linux: a Node.js process (the owner recorded in a pid file); elsewhere any live process counts. */
export const isNodeProcess = (pid: number, procRoot = "/proc"): boolean => {
  if (!isAlive(pid)) return false;
  if (!existsSync(procRoot)) return true;
  try {
    const argv0 = readFileSync(`${procRoot}/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    return path.basename(argv0).startsWith("node") || readFileSync(`${procRoot}/${pid}/comm`, "utf8").trim().startsWith("node");
  } catch {
    return false;
  }
};
