/**
 * A throwaway redis-server for fault tests: its own free port, nothing on disk (`--save ""
 * --appendonly no`), so it can be killed, frozen and restarted without touching the Redis of the
 * test run (tests/support/redis-global-setup.ts) that other tests use. A restart is empty, like a
 * node that lost its data.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { Redis } from "ioredis";
import { eventually } from "../scenarios/harness.js";
import { freePort } from "../support/free-port.js";

export const REDIS_SERVER = "redis-server";

export const hasRedisServer = spawnSync(REDIS_SERVER, ["--version"], { stdio: "ignore" }).status === 0;

export { freePort };

/** A redis-server on loopback at `port` that keeps nothing on disk and says only what goes wrong. */
export const throwawayServerArgs = (port: number): string[] => [
  "--port",
  String(port),
  "--bind",
  "127.0.0.1",
  "--save",
  "",
  "--appendonly",
  "no",
  "--protected-mode",
  "no",
  "--loglevel",
  "warning",
];

export class PrivateRedis {
  private child: ChildProcess | undefined;

  constructor(readonly port: number) {}

  static async create(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Starts it (again) on its port and waits until it answers. It starts empty (there is no file to
   * load), though a client that was waiting to reconnect may write to it at once.
   */
  async start(): Promise<void> {
    const child = spawn(REDIS_SERVER, throwawayServerArgs(this.port), { stdio: "ignore" });
    this.child = child;
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on("error", () => undefined);
    try {
      await eventually(
        async () => {
          if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
          if (client.status !== "ready") {
            client.disconnect();
            await client.connect();
          }
          if ((await client.ping()) !== "PONG") throw new Error("no PONG");
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );
    } finally {
      client.disconnect();
    }
  }

  /** SIGKILL, like a crashed node: connections are refused until `start()`. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await exited;
  }

  /** SIGSTOP: connections stay open but nothing answers (a hung node, a network black hole). */
  freeze(): void {
    this.child?.kill("SIGSTOP");
  }

  thaw(): void {
    this.child?.kill("SIGCONT");
  }
}
