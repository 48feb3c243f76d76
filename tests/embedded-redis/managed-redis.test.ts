/**
 * The managed redis-server on its own: where it keeps its files, how it stops, and that no start
 * ever leaves two servers on one data directory or kills a process that is not its own.
 * Linux only for the process checks (they read /proc); skipped without redis-server.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startManagedRedis, type ManagedRedis } from "../../src/infrastructure/embedded-redis/managed-redis.js";
import { isRedisServerOf } from "../../src/infrastructure/embedded-redis/process-identity.js";
import { findRedisServer, redisInstallHint } from "../../src/infrastructure/embedded-redis/redis-binary.js";
import { DEFAULT_REDIS_URL, provideRedis } from "../../src/infrastructure/embedded-redis/redis-endpoint.js";
import { readServerRecord, SERVER_RECORD_FILE, writeServerRecord } from "../../src/infrastructure/embedded-redis/server-record.js";
import { RedisDataDirInUseError } from "../../src/infrastructure/embedded-redis/stale-server.js";
import { createLogger } from "../../src/logger.js";
import { repoRoot } from "../concurrency/processes.js";
import { connect, deadPid, isAlive, REDIS_SERVER, redisServersIn, startLooseRedis, watchdogsOf, within } from "./support.js";

const binary = REDIS_SERVER ?? "redis-server";
const cleanups: Array<() => unknown> = [];
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(tmpdir(), "managed-redis-test-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};
const started = async (dir: string, persistent = false): Promise<ManagedRedis> => {
  const server = await startManagedRedis({ binary, dir, port: 0, persistent });
  cleanups.push(() => server.stop());
  return server;
};

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.skipIf(REDIS_SERVER === undefined || process.platform !== "linux")("managed redis-server", () => {
  it("runs on loopback in its folder, recorded in a pid file, and stop() leaves nothing behind", async () => {
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const server = await started(dir);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(redisServersIn(dir)).toEqual([server.pid]);
    expect(readServerRecord(dir)).toEqual({ pid: server.pid, port: server.port, ownerPid: process.pid, dir });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const client = await connect(server.url);
    expect(await client.ping()).toBe("PONG");
    expect(await client.config("GET", "bind")).toEqual(["bind", "127.0.0.1"]);
    client.disconnect();
    expect(watchdogsOf(server.pid)).toHaveLength(1);

    await server.stop();
    expect(isAlive(server.pid)).toBe(false);
    expect(existsSync(path.join(dir, SERVER_RECORD_FILE))).toBe(false);
    await within(5000, () => expect(watchdogsOf(server.pid)).toEqual([]));
  });

  it("keeps its data in an append-only file across a restart when persistent", async () => {
    const dir = tempDir();
    const first = await startManagedRedis({ binary, dir, port: 0, persistent: true });
    const client = await connect(first.url);
    await client.set("survives", "yes");
    client.disconnect();
    await first.stop();
    expect(existsSync(path.join(dir, "appendonlydir"))).toBe(true);

    const second = await started(dir, true);
    const again = await connect(second.url);
    expect(await again.get("survives")).toBe("yes");
    again.disconnect();
  });

  it("stops a server a dead service left in the folder before it starts its own", async () => {
    const dir = tempDir();
    const loose = await startLooseRedis(dir);
    cleanups.push(() => loose.stop());
    writeServerRecord({ pid: loose.pid, port: loose.port, ownerPid: await deadPid(), dir });

    const server = await started(dir);
    expect(server.stale).toEqual({ kind: "stopped", pid: loose.pid });
    expect(isAlive(loose.pid)).toBe(false);
    expect(redisServersIn(dir)).toEqual([server.pid]);
  });

  it("never kills what the pid file names when it is not a redis-server of that folder", async () => {
    const dir = tempDir();
    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    cleanups.push(() => sleeper.kill("SIGKILL"));
    const elsewhere = await startLooseRedis(tempDir());
    cleanups.push(() => elsewhere.stop());

    writeServerRecord({ pid: sleeper.pid ?? 0, port: 1, ownerPid: await deadPid(), dir });
    const first = await started(dir);
    expect(first.stale).toEqual({ kind: "discarded", pid: sleeper.pid });
    await first.stop();

    writeServerRecord({ pid: elsewhere.pid, port: elsewhere.port, ownerPid: await deadPid(), dir });
    const second = await started(dir);
    expect(second.stale).toEqual({ kind: "discarded", pid: elsewhere.pid });

    expect(isAlive(sleeper.pid ?? 0)).toBe(true);
    expect(isAlive(elsewhere.pid)).toBe(true);
  });

  it("refuses to start beside a server whose service still runs", async () => {
    const dir = tempDir();
    const loose = await startLooseRedis(dir);
    cleanups.push(() => loose.stop());
    const owner = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    cleanups.push(() => owner.kill("SIGKILL"));
    await within(5000, () => expect(readFileSync(`/proc/${owner.pid}/comm`, "utf8").trim()).toMatch(/^node/));
    writeServerRecord({ pid: loose.pid, port: loose.port, ownerPid: owner.pid ?? 0, dir });

    await expect(startManagedRedis({ binary, dir, port: 0, persistent: false })).rejects.toThrow(RedisDataDirInUseError);
    expect(isAlive(loose.pid)).toBe(true);
  });

  it("refuses a configured port where another Redis answers, and leaves that Redis alone", async () => {
    const dir = tempDir();
    const other = await startLooseRedis(tempDir());
    cleanups.push(() => other.stop());

    // Whichever comes first: the other Redis answering our readiness probe, or ours failing to bind.
    await expect(startManagedRedis({ binary, dir, port: other.port, persistent: false })).rejects.toThrow(
      new RegExp(`port ${other.port} is taken by another Redis \\(pid ${other.pid}\\)|Address already in use`),
    );
    expect(isAlive(other.pid)).toBe(true);
    expect(redisServersIn(dir)).toEqual([]);
    expect(readServerRecord(dir)).toBeUndefined();
  });

  it("goes when the process that started it is SIGKILLed (parent watchdog)", async () => {
    const dir = tempDir();
    const holder = spawn(
      process.execPath,
      ["--import", "tsx", path.join("tests", "embedded-redis", "fixtures", "hold-managed-redis.ts"), dir],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    cleanups.push(() => holder.kill("SIGKILL"));
    // Should the watchdog fail, the test must not leave the server running.
    cleanups.push(() => redisServersIn(dir).forEach((orphan) => process.kill(orphan, "SIGKILL")));
    const { pid } = await new Promise<{ pid: number }>((resolve, reject) => {
      holder.stdout.setEncoding("utf8").once("data", (line: string) => resolve(JSON.parse(line) as { pid: number }));
      holder.once("exit", (code) => reject(new Error(`the fixture exited with ${code}`)));
    });
    expect(redisServersIn(dir)).toEqual([pid]);

    holder.kill("SIGKILL");
    await within(10_000, () => expect(isAlive(pid)).toBe(false));
    expect(redisServersIn(dir)).toEqual([]);
  });

  it("identifies its server by asking it, where there is no /proc", async () => {
    const dir = tempDir();
    const server = await started(dir);
    const noProc = { procRoot: path.join(dir, "no-proc-here") };
    expect(await isRedisServerOf(server.pid, server.port, dir, noProc)).toBe(true);
    expect(await isRedisServerOf(server.pid, server.port, tempDir(), noProc)).toBe(false);
    expect(await isRedisServerOf(process.pid, server.port, dir, noProc)).toBe(false);
  });

  it("is restarted on the same port when it dies under a running service", async () => {
    const dataDir = tempDir();
    const endpoint = await provideRedis({ url: undefined, dataDir, port: 0, inMemory: false }, createLogger({ level: "silent" }));
    cleanups.push(() => endpoint.stop());
    const first = endpoint.managed();
    expect(first?.dir).toBe(path.resolve(dataDir, "redis"));
    process.kill(first?.pid ?? 0, "SIGKILL");

    const second = await within(15_000, () => {
      const current = endpoint.managed();
      expect(current?.pid).toBeDefined();
      expect(current?.pid).not.toBe(first?.pid);
      return current;
    });
    expect(second?.url).toBe(endpoint.url);
    const client = await connect(endpoint.url);
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
    await endpoint.stop();
    expect(redisServersIn(path.join(dataDir, "redis"))).toEqual([]);
  });

  it("keeps trying to restart while its port is taken, and comes back on that port once it is free", async () => {
    const dataDir = tempDir();
    const endpoint = await provideRedis({ url: undefined, dataDir, port: 0, inMemory: false }, createLogger({ level: "silent" }));
    cleanups.push(() => endpoint.stop());
    const first = endpoint.managed();
    const port = first?.port ?? 0;
    process.kill(first?.pid ?? 0, "SIGKILL");
    await within(5000, () => expect(isAlive(first?.pid ?? 0)).toBe(false));
    // Something else takes the port before the first restart (it waits 500 ms). On a loaded machine
    // the restart can win the port first: kill the restarted server and try again.
    const squatter = createServer((socket) => socket.destroy());
    await within(10_000, async () => {
      const restarted = endpoint.managed();
      if (restarted) process.kill(restarted.pid, "SIGKILL");
      await new Promise<void>((resolve, reject) => {
        squatter.once("error", reject);
        squatter.listen(port, "127.0.0.1", () => {
          squatter.off("error", reject);
          resolve();
        });
      });
    });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(endpoint.managed()).toBeUndefined();
    await new Promise<void>((resolve) => squatter.close(() => resolve()));

    const back = await within(20_000, () => {
      const current = endpoint.managed();
      expect(current).toBeDefined();
      return current;
    });
    expect(back?.port).toBe(port);
    const client = await connect(endpoint.url);
    expect(await client.ping()).toBe("PONG");
    client.disconnect();
  });
});

describe("without a redis-server binary", () => {
  it("says how to install one and leaves the service on the default address", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({
      level: "info",
      destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const empty = tempDir();
    expect(findRedisServer(empty)).toBeUndefined();

    const endpoint = await provideRedis({ url: undefined, dataDir: tempDir(), port: 0, inMemory: false, searchPath: empty }, logger);
    expect(endpoint.url).toBe(DEFAULT_REDIS_URL);
    expect(endpoint.managed()).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]?.level).toBe(50);
    expect(String(lines[0]?.msg)).toContain(redisInstallHint());
    expect(String(lines[0]?.msg)).toContain("REDIS_URL");
    expect(redisInstallHint("linux")).toContain("apt-get install redis-server");
    expect(redisInstallHint("darwin")).toBe("brew install redis");
  });

  it("uses REDIS_URL as given and starts nothing", async () => {
    const endpoint = await provideRedis(
      { url: "redis://example.invalid:6379", dataDir: tempDir(), port: 0, inMemory: false, searchPath: "" },
      createLogger({ level: "silent" }),
    );
    expect(endpoint.url).toBe("redis://example.invalid:6379");
    expect(endpoint.managed()).toBeUndefined();
  });
});
