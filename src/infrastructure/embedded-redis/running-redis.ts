import path from "node:path";
import { isRedisServerOf } from "./process-identity.js";
import { readServerRecord } from "./server-record.js";

/**
 * The address of the managed Redis a running service keeps under `dataDir`, for tools that work
 * next to the service (projection rebuilds) without a `REDIS_URL`; undefined when none runs.
 */
export const runningManagedRedisUrl = async (dataDir: string): Promise<string | undefined> => {
  const dir = path.resolve(dataDir, "redis");
  const record = readServerRecord(dir);
  if (record === undefined || !(await isRedisServerOf(record.pid, record.port, dir))) return undefined;
  return `redis://127.0.0.1:${record.port}`;
};
