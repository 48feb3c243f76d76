import { readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { randomUUID } from "node:crypto";

/** The file that says which process owns a data directory. */
export const LOCK_FILE_NAME = "eventstore.lock";

interface LockRecord {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly since: string;
  /** When the holding process started (ms since the epoch): tells a reused pid from the holder. */
  readonly processStarted: number | undefined;
}

/** Rounded, so that two readings in one process agree. */
const processStarted = (): number => Math.round((Date.now() - process.uptime() * 1000) / 1000) * 1000;

export class DataDirectoryLockedError extends Error {
  override readonly name = "DataDirectoryLockedError";
  constructor(
    readonly dataDir: string,
    readonly holderPid: number,
  ) {
    super(
      `the data directory ${dataDir} is in use by process ${holderPid} (lock file ${join(dataDir, LOCK_FILE_NAME)}): ` +
        `stop that process or use another data directory (DATA_DIR / --data)`,
    );
  }
}

export interface DataDirectoryLock {
  readonly file: string;
  /** Removes the lock file if it is still ours; safe to call more than once. */
  release(): void;
}

const readRecord = (file: string): LockRecord | undefined => {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof parsed !== "object" || parsed === null) return undefined;
    const { pid, host, token, since, processStarted: started } = parsed as Record<string, unknown>;
    if (typeof pid !== "number" || typeof host !== "string" || typeof token !== "string") return undefined;
    return {
      pid,
      host,
      token,
      since: typeof since === "string" ? since : "",
      processStarted: typeof started === "number" ? started : undefined,
    };
  } catch {
    return undefined;
  }
};

/** A zombie (killed, not yet reaped by its parent) still answers signal 0 but holds nothing. */
const isZombie = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
};

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  return !isZombie(pid);
};

/**
 * A lock that another machine wrote (a shared volume) cannot be checked for liveness from here,
 * so it is respected; an unreadable one is a half-written lock of a process that died mid-write.
 */
const isStale = (record: LockRecord | undefined): boolean => {
  if (record === undefined) return true;
  if (record.host !== hostname()) return false;
  // Our own pid: another thread of this process holds it — or a previous process that had the same
  // pid (a container's pid 1 after a restart keeps its hostname too), told apart by its start time.
  if (record.pid === process.pid) return record.processStarted !== undefined && Math.abs(record.processStarted - processStarted()) > 2000;
  return !isAlive(record.pid);
};

const tryCreate = (file: string, record: LockRecord): boolean => {
  try {
    writeFileSync(file, JSON.stringify(record), { flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
};

/**
 * Claims `dataDir` for this process: two servers writing one SQLite log would corrupt each
 * other's positions. The lock file holds the owner's pid; a lock whose process is gone (SIGKILL,
 * power loss) is taken over. The directory must exist.
 */
export const lockDataDirectory = (dataDir: string): DataDirectoryLock => {
  const directory = resolve(dataDir);
  const file = join(directory, LOCK_FILE_NAME);
  const mine: LockRecord = {
    pid: process.pid,
    host: hostname(),
    token: randomUUID(),
    since: new Date().toISOString(),
    processStarted: processStarted(),
  };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    if (tryCreate(file, mine)) {
      let released = false;
      return {
        file,
        release: () => {
          if (released) return;
          released = true;
          if (readRecord(file)?.token !== mine.token) return;
          try {
            unlinkSync(file);
          } catch {
            // Already gone: nothing to release.
          }
        },
      };
    }
    const holder = readRecord(file);
    if (!isStale(holder)) throw new DataDirectoryLockedError(directory, holder?.pid ?? -1);
    try {
      unlinkSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  const holder = readRecord(file);
  throw new DataDirectoryLockedError(directory, holder?.pid ?? -1);
};
