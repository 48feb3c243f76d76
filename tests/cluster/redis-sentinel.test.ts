/**
 * The app's Redis client behind Sentinel, against real redis-server processes: a primary, a
 * replica and one sentinel, each on its own free port with nothing on disk. The client finds the
 * primary through the sentinel (REDIS_SENTINELS / REDIS_MASTER_NAME), keeps REDIS_URL's database,
 * and after a failover writes to the promoted replica without being recreated.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createRedis } from "../../src/infrastructure/redis.js";
import { hasRedisServer, throwawayServerArgs } from "../faults/private-redis.js";
import { freePort } from "../support/free-port.js";
import { sleep, tempDir, waitFor } from "../worker/support.js";

const MASTER = "reservations-test";

const children: ChildProcess[] = [];

const redisServer = (args: readonly string[]): ChildProcess => {
  const child = spawn("redis-server", [...args], { stdio: "ignore" });
  children.push(child);
  return child;
};

/** A replica's full sync writes an RDB file even with saving off: it goes to `dir`, not the working directory. */
const serverArgs = (port: number, dir: string): string[] => [
  ...throwawayServerArgs(port),
  "--dir",
  dir,
  "--dbfilename",
  `dump-${port}.rdb`,
];

const direct = (port: number, db = 0): Redis => {
  const client = new Redis({ host: "127.0.0.1", port, db, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  client.on("error", () => undefined);
  return client;
};

describe.skipIf(!hasRedisServer)("Redis through Sentinel", () => {
  const dir = tempDir("sentinel-");
  let primaryPort: number;
  let replicaPort: number;
  let sentinelPort: number;
  const probes: Redis[] = [];
  const probe = (port: number, db = 0): Redis => {
    const client = direct(port, db);
    probes.push(client);
    return client;
  };

  beforeAll(async () => {
    // freePort may hand out a port again once it is free again: ask until there are three different ones.
    const ports = new Set<number>();
    while (ports.size < 3) ports.add(await freePort());
    [primaryPort = 0, replicaPort = 0, sentinelPort = 0] = [...ports];
    redisServer(serverArgs(primaryPort, dir.path));
    redisServer([...serverArgs(replicaPort, dir.path), "--replicaof", "127.0.0.1", String(primaryPort)]);
    // Sentinel rewrites its configuration file, so it gets one of its own.
    const sentinelConf = path.join(dir.path, "sentinel.conf");
    writeFileSync(
      sentinelConf,
      [
        `port ${sentinelPort}`,
        "bind 127.0.0.1",
        "protected-mode no",
        `dir ${dir.path}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${primaryPort} 1`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 5000`,
        "",
      ].join("\n"),
    );
    redisServer([sentinelConf, "--sentinel", "--loglevel", "warning"]);

    const replica = probe(replicaPort);
    await waitFor("the replica to be in sync", async () => /master_link_status:up/.test(await replica.info("replication")), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    const sentinel = probe(sentinelPort);
    await waitFor(
      "the sentinel to know the replica",
      async () => ((await sentinel.call("SENTINEL", "REPLICAS", MASTER)) as unknown[]).length === 1,
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  }, 40_000);

  afterAll(async () => {
    for (const client of probes) client.disconnect();
    for (const child of children) child.kill("SIGKILL");
    await sleep(50);
    dir.remove();
  });

  it("finds the primary through the sentinel, keeps REDIS_URL's database, and follows a failover", async () => {
    const config = loadConfig({
      // Host and port here are never used in Sentinel mode; the database number is.
      REDIS_URL: "redis://unused.invalid:1/3",
      REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`,
      REDIS_MASTER_NAME: MASTER,
    });
    const client = createRedis(config.redis.url ?? "", config.redis.sentinel);
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.set("sentinel-test:before", "1");
      expect(await probe(primaryPort, 3).get("sentinel-test:before"), "the write, on the primary").toBe("1");
      // Replication is asynchronous and a forced failover does not wait for it: let the replica have it first.
      await waitFor("the write to reach the replica", async () => (await probe(replicaPort, 3).get("sentinel-test:before")) === "1", {
        timeoutMs: 10_000,
        intervalMs: 50,
      });

      // A sentinel learns of replicas from the primary's INFO, every few seconds: until it has, a
      // forced failover answers NOGOODSLAVE. Ask until it is accepted.
      await waitFor(
        "the sentinel to accept the failover",
        async () =>
          probe(sentinelPort)
            .call("SENTINEL", "FAILOVER", MASTER)
            .then(
              () => true,
              (error: unknown) => {
                if (String(error).includes("NOGOODSLAVE")) return false;
                throw error;
              },
            ),
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      await waitFor(
        "the sentinel to name the replica as primary",
        async () =>
          ((await probe(sentinelPort).call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)) as string[])[1] === String(replicaPort),
        { timeoutMs: 20_000, intervalMs: 100 },
      );

      // The same client object must find the new primary by itself. Until the old primary is told
      // to follow (a moment after the sentinel names the new one), a write may still land on it and
      // be lost when it resyncs: Redis replication is asynchronous. So: write until a write is on the new primary.
      const newPrimary = probe(replicaPort, 3);
      await waitFor(
        "a write through the same client to reach the new primary",
        async () => {
          const marker = String(Math.random());
          await client.set("sentinel-test:after", marker);
          return (await newPrimary.get("sentinel-test:after")) === marker;
        },
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      expect(await newPrimary.info("replication")).toMatch(/role:master/);
      expect(await newPrimary.get("sentinel-test:before"), "the earlier write, on the new primary").toBe("1");
    } finally {
      client.disconnect();
    }
  }, 60_000);
});
