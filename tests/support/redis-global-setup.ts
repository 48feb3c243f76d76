/**
 * vitest globalSetup: one managed redis-server (nothing on disk, a free port) for the whole test
 * run, the same mechanism `npm start` uses, so `npm test` needs redis-server installed but not
 * running, and never shares state with a Redis the user runs. A `REDIS_URL` set by the user wins.
 * Test files read the address through `TEST_REDIS_URL` (tests/support/redis-url.ts); children they
 * spawn inherit it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startManagedRedis } from "../../src/infrastructure/embedded-redis/managed-redis.js";
import { findRedisServer, redisInstallHint } from "../../src/infrastructure/embedded-redis/redis-binary.js";

export default async function startTestRedis(): Promise<(() => Promise<void>) | undefined> {
  if (process.env.REDIS_URL) return undefined;
  const binary = findRedisServer();
  if (binary === undefined) {
    throw new Error(`the tests need redis-server on PATH (${redisInstallHint()}), or REDIS_URL pointing at a Redis they may use`);
  }
  const dir = mkdtempSync(path.join(tmpdir(), "test-redis-"));
  const server = await startManagedRedis({ binary, dir, port: 0, persistent: false });
  process.env.REDIS_URL = server.url;
  // The server itself goes on exit (its own hook); its folder too, also when the caller exits early.
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once("exit", removeDir);
  return async () => {
    await server.stop();
    delete process.env.REDIS_URL;
    process.removeListener("exit", removeDir);
    removeDir();
  };
}
