import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

/** The pid file of a managed Redis, kept in its data directory so that a later start can find a server left behind. */
export const SERVER_RECORD_FILE = "redis-server.pid.json";

const ServerRecordSchema = z.object({
  pid: z.number().int().positive(),
  port: z.number().int().min(1).max(65_535),
  /** The service process that started it: a server whose owner still runs is not stale. */
  ownerPid: z.number().int().positive(),
  dir: z.string().min(1),
});

export type ServerRecord = z.infer<typeof ServerRecordSchema>;

const recordPath = (dir: string): string => path.join(dir, SERVER_RECORD_FILE);

/** Undefined when there is no record, or one that cannot be read (a torn write is treated as none). */
export const readServerRecord = (dir: string): ServerRecord | undefined => {
  let text: string;
  try {
    text = readFileSync(recordPath(dir), "utf8");
  } catch {
    return undefined;
  }
  try {
    const parsed = ServerRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
};

/** Written to a temporary name and renamed, so a reader never sees half a record. */
export const writeServerRecord = (record: ServerRecord): void => {
  mkdirSync(record.dir, { recursive: true });
  const temporary = `${recordPath(record.dir)}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  renameSync(temporary, recordPath(record.dir));
};

export const removeServerRecord = (dir: string): void => {
  rmSync(recordPath(dir), { force: true });
};
