/**
 * Automatic charges that meet an unavailable provider (src/worker/automatic-charge.ts): the token is
 * kept, a retry waits in the durable Redis schedule with backoff, and the retry charges once the
 * provider is back — or gives up, forgetting the token, when the hold ends or the payment no longer
 * needs it. Issue: "a transient failure loses the payment token".
 */
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentProviderUnavailableError, type ChargeRequest, type ChargeResult } from "../../src/application/payment-provider.js";
import { DeadlineSchedule } from "../../src/infrastructure/deadline-schedule.js";
import { RedisPaymentTokenStore } from "../../src/infrastructure/redis-payment-token-store.js";
import { AutomaticCharge, MAX_RETRY_DELAY_SECONDS, nextChargeAttempt } from "../../src/worker/automatic-charge.js";
import { SchedulePoller } from "../../src/worker/schedule-poller.js";
import {
  CountingProvider,
  type Store,
  type World,
  contextOf,
  redisClient,
  testLogger,
  uniqueName,
  useStoreAndRedis,
  world,
} from "./support.js";

/** The provider is down (every charge fails like an outage) while `down` is set. */
class SwitchableProvider extends CountingProvider {
  down = true;

  override async charge(request: ChargeRequest): Promise<ChargeResult> {
    if (!this.down) return super.charge(request);
    this.charges.push(request);
    throw new PaymentProviderUnavailableError("the payment provider is unavailable", 2);
  }
}

describe("nextChargeAttempt (backoff)", () => {
  const now = new Date("2026-12-01T10:00:00.000Z");
  const farAway = new Date("2026-12-02T10:00:00.000Z");
  const secondsAfterNow = (at: Date | undefined) => (at === undefined ? undefined : (at.getTime() - now.getTime()) / 1000);

  it("doubles the wait with every failure in a row, up to five minutes", () => {
    expect([1, 2, 3, 4, 8, 9, 30].map((failures) => secondsAfterNow(nextChargeAttempt(failures, 0, now, farAway)))).toEqual([
      2,
      4,
      8,
      16,
      256,
      MAX_RETRY_DELAY_SECONDS,
      MAX_RETRY_DELAY_SECONDS,
    ]);
  });

  it("never retries sooner than the provider's Retry-After", () => {
    expect(secondsAfterNow(nextChargeAttempt(1, 30, now, farAway))).toBe(30);
  });

  it("gives up when the next attempt would come at or after the hold's end", () => {
    expect(nextChargeAttempt(3, 0, now, new Date(now.getTime() + 8000))).toBeUndefined();
    expect(secondsAfterNow(nextChargeAttempt(3, 0, now, new Date(now.getTime() + 8001)))).toBe(8);
  });
});

describe("retrying an automatic charge from the durable schedule", () => {
  let store: Store;
  let redis: Redis;
  const keys: string[] = [];

  const setUp = () => {
    const provider = new SwitchableProvider();
    const w = world(store.client, { provider });
    const key = uniqueName("test:worker:charge-retries:");
    const schedule = new DeadlineSchedule(redis, key);
    keys.push(key);
    const charge = new AutomaticCharge({
      ...w,
      provider,
      paymentTokens: w.tokens,
      retries: schedule,
      logger: testLogger(),
      clock: () => new Date(),
    });
    /** A poller whose clock stands at `at`, working the real Redis schedule. */
    const pollerAt = (at: Date) =>
      new SchedulePoller({ schedule, work: (id) => charge.retry(id), logger: testLogger(), what: "payment retry", clock: () => at });
    return { provider, w, schedule, key, pollerAt };
  };

  /** Places with a token while the provider is down and lets the saga make its first attempt. */
  const placeDuringOutage = async (w: World, schedule: DeadlineSchedule, holdTtlSeconds = 900) => {
    const productId = await w.registerProduct({ holdTtlSeconds });
    const { reservationId, customer } = await w.place(productId, { paymentToken: "tok_ok" });
    await w.runSaga(reservationId);
    const due = w.chargeRetries.dueAt(reservationId);
    if (!due) throw new Error("the saga scheduled no retry");
    await schedule.add(reservationId, due);
    return { productId, reservationId, customer, due };
  };

  useStoreAndRedis(keys, (started) => ({ store, redis } = started));

  it("charges the kept token once the provider is back, and the saga then confirms the reservation", async () => {
    const { provider, w, schedule, key, pollerAt } = setUp();
    const { reservationId, due } = await placeDuringOutage(w, schedule);
    expect((await w.payment(reservationId))?.attempts.map((a) => a.outcome)).toEqual(["failed"]);

    // Not yet due: nothing happens.
    expect(await pollerAt(new Date(due.getTime() - 1)).tick()).toBe(0);
    // Due, the provider still down: another failed attempt and a longer wait.
    expect(await pollerAt(due).tick()).toBe(1);
    expect((await w.payment(reservationId))?.attempts.map((a) => a.outcome)).toEqual(["failed", "failed"]);
    const [, secondDue] = await redis.zrange(key, "0", "-1", "WITHSCORES");
    expect(Number(secondDue)).toBeGreaterThan(due.getTime());
    expect(await w.tokens.read(reservationId)).toBe("tok_ok");

    // Back up: the retry charges, the token is forgotten, the entry is done.
    provider.down = false;
    expect(await pollerAt(new Date(Number(secondDue))).tick()).toBe(1);
    const payment = await w.payment(reservationId);
    expect(payment?.status).toBe("paid");
    expect(payment?.attempts.map((a) => a.outcome)).toEqual(["failed", "failed", "succeeded"]);
    expect(await w.tokens.read(reservationId)).toBeUndefined();
    expect(await schedule.size()).toBe(0);
    await w.runSaga(reservationId);
    expect((await w.reservation(reservationId)).status).toBe("confirmed");
  });

  it("gives up at the hold's end: the token is forgotten and nothing is scheduled again", async () => {
    const { provider, w, schedule, key, pollerAt } = setUp();
    // A 10 s hold: the simulated outage's waits (2, 4, 8 s…) soon reach its end.
    const { reservationId, due } = await placeDuringOutage(w, schedule, 10);
    let at = due;
    for (let pass = 0; pass < 5 && (await schedule.size()) > 0; pass += 1) {
      await pollerAt(at).tick();
      const next = await redis.zrange(key, "0", "-1", "WITHSCORES");
      if (next[1] !== undefined) at = new Date(Number(next[1]));
    }
    expect(await schedule.size()).toBe(0);
    expect(await w.tokens.read(reservationId)).toBeUndefined();
    expect((await w.payment(reservationId))?.status).toBe("pending");
    expect(provider.chargesOf(reservationId)).toBeGreaterThan(1);
  });

  it("does not charge a payment the customer paid by hand meanwhile, and forgets the token", async () => {
    const { provider, w, schedule, pollerAt } = setUp();
    const { reservationId, customer, due } = await placeDuringOutage(w, schedule);
    provider.down = false;
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    const chargesBefore = provider.chargesOf(reservationId);
    expect(await pollerAt(due).tick()).toBe(1);
    expect(provider.chargesOf(reservationId)).toBe(chargesBefore);
    expect(await w.tokens.read(reservationId)).toBeUndefined();
    expect(await schedule.size()).toBe(0);
  });
});

describe("RedisPaymentTokenStore", () => {
  let redis: Redis;
  beforeAll(() => {
    redis = redisClient();
  });
  afterAll(() => redis.disconnect());

  it("keeps a token only as long as its hold and forgets it on discard", async () => {
    const tokens = new RedisPaymentTokenStore(redis, uniqueName("test-worker-"));
    await tokens.store("r-1", "tok_ok", 60);
    expect(await tokens.read("r-1")).toBe("tok_ok");
    const ttl = await redis.ttl(tokens.keyOf("r-1"));
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
    await tokens.discard("r-1");
    expect(await tokens.read("r-1")).toBeUndefined();
    expect(await tokens.read("never-stored")).toBeUndefined();
  });
});
