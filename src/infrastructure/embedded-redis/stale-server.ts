import { type IdentityProbe, isAlive, isNodeProcess, isRedisServerOf } from "./process-identity.js";
import { readServerRecord, removeServerRecord } from "./server-record.js";

/** The data directory's Redis belongs to a service that is still running. */
export class RedisDataDirInUseError extends Error {
  override readonly name = "RedisDataDirInUseError";
}

export type StaleServerOutcome =
  | { readonly kind: "none" }
  /** A redis-server of this directory outlived its service and was stopped. */
  | { readonly kind: "stopped"; readonly pid: number }
  /** The pid file named a process that is gone or is not our Redis: only the file was removed. */
  | { readonly kind: "discarded"; readonly pid: number };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const waitForExit = async (pid: number, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
};

/** SIGTERM lets Redis flush its append-only file; SIGKILL only when it will not go. */
export const terminate = async (pid: number, graceMs = 10_000): Promise<void> => {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  if (await waitForExit(pid, graceMs)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitForExit(pid, 5000);
};

/**
 * Before a managed Redis starts in `dir`: a server left there by a service that died without
 * stopping it (SIGKILL, power loss with the watchdog gone too) is stopped, so there is never a
 * second server writing the same append-only file.
 */
export const clearStaleServer = async (dir: string, probe: IdentityProbe = {}): Promise<StaleServerOutcome> => {
  const record = readServerRecord(dir);
  if (record === undefined) return { kind: "none" };
  if (!(await isRedisServerOf(record.pid, record.port, dir, probe))) {
    removeServerRecord(dir);
    return { kind: "discarded", pid: record.pid };
  }
  if (record.ownerPid !== process.pid && isNodeProcess(record.ownerPid, probe.procRoot)) {
    throw new RedisDataDirInUseError(
      `the Redis in ${dir} (pid ${record.pid}) belongs to process ${record.ownerPid}, which is still running: ` +
        "another service uses this DATA_DIR. Stop it, or give this one its own DATA_DIR.",
    );
  }
  await terminate(record.pid);
  removeServerRecord(dir);
  return { kind: "stopped", pid: record.pid };
};
