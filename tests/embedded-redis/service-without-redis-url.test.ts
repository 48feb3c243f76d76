/**
 * The service as `npm start` runs it on a machine where nothing listens for Redis: `REDIS_URL`
 * unset, so it starts its own redis-server under DATA_DIR/redis. A reservation shows up on My
 * Page; SIGTERM stops Redis with the service; after a SIGKILL the next start finds exactly one
 * redis-server for the data directory, and what the read side had written is still there.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { readServerRecord } from "../../src/infrastructure/embedded-redis/server-record.js";
import { signToken } from "../../src/http/auth.js";
import type { MyPageResponse, ProductResponse, ReservationResponse } from "../../src/http/schemas.js";
import { repoRoot, startAppProcess, type AppProcess } from "../concurrency/processes.js";
import { connect, isAlive, REDIS_SERVER, redisServersIn, watchdogsOf, within } from "./support.js";

const execFileAsync = promisify(execFile);
const SECRET = "managed-redis-test-secret-0123456789abcdef";
const MANAGED_REDIS_STARTED = "managed Redis started";

interface Started {
  readonly app: AppProcess;
  readonly redisUrl: string;
  readonly redisPid: number;
}

/** The first log line whose message starts with `message`. */
const logLine = (app: AppProcess, message: string): Record<string, unknown> | undefined =>
  app.lines
    .map((text) => (text.startsWith("{") ? (JSON.parse(text) as Record<string, unknown>) : {}))
    .find((entry) => typeof entry.msg === "string" && entry.msg.startsWith(message));

/** Every service this file started, stopped in afterAll whatever the tests did. */
const apps: AppProcess[] = [];

const startWithoutRedisUrl = async (dataDir: string): Promise<Started> => {
  // REDIS_URL: undefined removes the test run's own Redis from the child's environment.
  const app = await startAppProcess({
    REDIS_URL: undefined,
    DATA_DIR: dataDir,
    EMBEDDED_EVENTSTORE_PORT: "0",
    AUTH_SECRET: SECRET,
    NODE_ENV: "test",
  });
  apps.push(app);
  const line = logLine(app, MANAGED_REDIS_STARTED);
  expect(line, `no "${MANAGED_REDIS_STARTED}" line in\n${app.lines.join("\n")}`).toBeDefined();
  return { app, redisUrl: String(line?.redis), redisPid: Number(line?.redisPid) };
};

const call = async <T>(
  app: AppProcess,
  method: string,
  route: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> => {
  const response = await fetch(`${app.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as T };
};

const tokens = async (): Promise<{ seller: string; customer: string }> => ({
  seller: await signToken(SECRET, { sub: "seller-sam", role: "seller", ttlSeconds: 600 }),
  customer: await signToken(SECRET, { sub: "customer-alice", role: "customer", ttlSeconds: 600 }),
});

/** Registers a product, reserves one unit and waits until My Page lists the reservation. */
const reserveAndSeeOnMyPage = async (app: AppProcess): Promise<string> => {
  const { seller, customer } = await tokens();
  const product = await call<ProductResponse>(app, "POST", "/products", seller, { name: "Lamp", capacity: 3, unitPrice: 1200 });
  expect(product.status).toBe(201);
  const reservation = await call<ReservationResponse>(app, "POST", "/reservations", customer, { productId: product.body.id, quantity: 1 });
  expect(reservation.status).toBe(201);
  await within(20_000, async () => {
    const page = await call<MyPageResponse>(app, "GET", "/my-page", customer);
    expect(page.status).toBe(200);
    expect(page.body.reservations.map((entry) => entry.reservationId)).toContain(reservation.body.id);
  });
  return reservation.body.id;
};

const myPageIds = async (app: AppProcess): Promise<string[]> => {
  const page = await call<MyPageResponse>(app, "GET", "/my-page", (await tokens()).customer);
  expect(page.status).toBe(200);
  return page.body.reservations.map((entry) => entry.reservationId);
};

describe.skipIf(REDIS_SERVER === undefined || process.platform !== "linux")("the service with REDIS_URL unset", () => {
  const dataDirs: string[] = [];
  const newDataDir = (): string => {
    const dir = mkdtempSync(path.join(tmpdir(), "service-managed-redis-"));
    dataDirs.push(dir);
    return dir;
  };
  afterAll(async () => {
    // SIGTERM first: a service stops its Redis; one that hangs is killed and its watchdog does it.
    for (const app of apps.splice(0)) await app.stop(5000);
    for (const dir of dataDirs) {
      // Whatever a failed test left running in its folder goes with it.
      for (const pid of redisServersIn(path.join(dir, "redis"))) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A service on a fresh data directory, a reservation on its My Page and a marker key in its Redis. */
  const startWithMarkedReservation = async () => {
    const dataDir = newDataDir();
    const redisDir = path.join(dataDir, "redis");
    const first = await startWithoutRedisUrl(dataDir);
    const reservationId = await reserveAndSeeOnMyPage(first.app);
    // A key only this test writes: if it is there after the restart, Redis kept its data (the
    // projections could otherwise just have rebuilt My Page from the event log).
    const before = await connect(first.redisUrl);
    await before.set("managed-redis-test:marker", reservationId);
    before.disconnect();
    return { dataDir, redisDir, first, reservationId };
  };

  /** The restarted service's Redis kept the marker and My Page the reservation; stopping it stops that Redis. */
  const expectMarkerKeptThenStop = async (
    second: Awaited<ReturnType<typeof startWithoutRedisUrl>>,
    redisDir: string,
    reservationId: string,
  ) => {
    const after = await connect(second.redisUrl);
    expect(await after.get("managed-redis-test:marker")).toBe(reservationId);
    after.disconnect();
    expect(await myPageIds(second.app)).toContain(reservationId);

    await second.app.stop();
    expect(redisServersIn(redisDir)).toEqual([]);
  };

  it("runs its own Redis under DATA_DIR: a reservation reaches My Page, projections:rebuild finds that Redis, SIGTERM stops it", async () => {
    const dataDir = newDataDir();
    const redisDir = path.join(dataDir, "redis");
    const { app, redisUrl, redisPid } = await startWithoutRedisUrl(dataDir);
    expect(redisUrl).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(redisUrl).not.toBe(process.env.REDIS_URL);
    expect(redisServersIn(redisDir)).toEqual([redisPid]);
    expect(readServerRecord(redisDir)?.ownerPid).toBe(app.child.pid);
    const redis = await connect(redisUrl);
    expect(await redis.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
    redis.disconnect();

    const reservationId = await reserveAndSeeOnMyPage(app);

    // `npm run projections:rebuild` beside the running service finds this Redis by its pid file.
    const eventStore = logLine(app, "embedded EventStoreDB started")?.eventStore;
    const rebuild = await execFileAsync(path.join(repoRoot, "node_modules", ".bin", "tsx"), ["scripts/projections-rebuild.ts", "mypage"], {
      cwd: repoRoot,
      timeout: 90_000,
      env: { ...process.env, REDIS_URL: "", EVENTSTORE_URL: String(eventStore), DATA_DIR: dataDir },
    });
    expect(rebuild.stderr).toContain(`into ${redisUrl}`);
    expect(await myPageIds(app)).toContain(reservationId);

    await app.stop();
    expect((await app.exited).code).toBe(0);
    expect(isAlive(redisPid)).toBe(false);
    expect(redisServersIn(redisDir)).toEqual([]);
    expect(readServerRecord(redisDir)).toBeUndefined();
  }, 180_000);

  it("after a SIGKILL, the next start runs a single Redis for the data directory and the read model is still there", async () => {
    const { dataDir, redisDir, first, reservationId } = await startWithMarkedReservation();

    first.app.child.kill("SIGKILL");
    await first.app.exited;

    const second = await startWithoutRedisUrl(dataDir);
    expect(isAlive(first.redisPid)).toBe(false);
    expect(redisServersIn(redisDir)).toEqual([second.redisPid]);
    await expectMarkerKeptThenStop(second, redisDir, reservationId);
  }, 240_000);

  it("a Redis that outlived a SIGKILLed service (its watchdog killed too) is stopped by the next start, its data kept", async () => {
    const { dataDir, redisDir, first, reservationId } = await startWithMarkedReservation();

    const watchdogs = watchdogsOf(first.redisPid);
    expect(watchdogs).toHaveLength(1);
    for (const pid of watchdogs) process.kill(pid, "SIGKILL");
    first.app.child.kill("SIGKILL");
    await first.app.exited;
    // Nothing stopped it: this is the orphan a power cut or `kill -9` of the whole tree can leave.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(redisServersIn(redisDir)).toEqual([first.redisPid]);

    const second = await startWithoutRedisUrl(dataDir);
    expect(isAlive(first.redisPid)).toBe(false);
    expect(redisServersIn(redisDir)).toEqual([second.redisPid]);
    const warning = second.app.problems.find(
      (line) => typeof line.msg === "string" && line.msg.startsWith("stopped a Redis that an earlier service left running"),
    );
    expect(warning?.redisPid).toBe(first.redisPid);
    await expectMarkerKeptThenStop(second, redisDir, reservationId);
  }, 240_000);
});
