/**
 * The reservation saga (src/worker/reservation-saga.ts), first driven directly — every event read
 * back from the embedded store and handed to `handle` as a `ConsumedEvent`, in `$all` order, until it
 * writes nothing new — and then through the whole service (`startService`, role `all`), where the
 * saga runs as a persistent-subscription member.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PaymentDeclinedError } from "../../src/application/errors.js";
import { PaymentProviderUnavailableError, type RefundRequest } from "../../src/application/payment-provider.js";
import { paymentAggregate, reservationAggregate } from "../../src/application/aggregates.js";
import type {
  PaymentCommand,
  PaymentEvent,
  PaymentState,
  ReservationCommand,
  ReservationEvent,
  ReservationState,
} from "../../src/domain/index.js";
import { AggregateRepository } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import type { CommandMetadata, Handled } from "../../src/core/repository.js";
import { type Consumer, TransientError } from "../../src/infrastructure/eventstore/consumer-group.js";
import { reservationSaga, type ReservationSagaDependencies } from "../../src/worker/reservation-saga.js";
import { loadConfig } from "../../src/config.js";
import { DeadlineSchedule } from "../../src/infrastructure/deadline-schedule.js";
import { startService, type RunningService } from "../../src/service.js";
import { RedisPaymentTokenStore } from "../../src/infrastructure/redis-payment-token-store.js";
import { HoldExpiryPoller, holdDeadlineConsumer } from "../../src/worker/hold-expiry.js";
import type { Redis } from "ioredis";
import {
  CountingProvider,
  PAID_THEN_REFUNDED,
  type Store,
  type StoredEvent,
  type World,
  consumedOf,
  contextOf,
  countTypes,
  deleteKeysUnder,
  readStream,
  redisClient,
  shuffled,
  sideEffectCounts,
  sleep,
  startStore,
  testLogger,
  uniqueKeyRoot,
  uniqueName,
  waitFor,
  world,
} from "./support.js";

/** A provider whose refunds fail like an outage while `refundsDown` is set. */
class OutageProvider extends CountingProvider {
  refundsDown = false;

  override async refund(request: RefundRequest): Promise<{ readonly reference: string }> {
    if (this.refundsDown) throw new PaymentProviderUnavailableError("the payment provider is unavailable", 1);
    return super.refund(request);
  }
}

/** A repository that lets another writer in just before a command is decided and appended. */
class InterleavingRepository<C, E extends { type: string; data: unknown }, S> extends AggregateRepository<C, E, S> {
  before: ((command: C) => Promise<void>) | undefined;

  override async handle(id: string, decide: (state: S, revision: number) => C, metadata: CommandMetadata): Promise<Handled<E, S>> {
    if (this.before) {
      const { state, revision } = await this.load(id);
      await this.before(decide(state, revision));
    }
    return super.handle(id, decide, metadata);
  }
}

/** The token is forgotten and no automatic charge is left waiting for it. */
const tokenGone = async (w: World, reservationId: string): Promise<void> => {
  expect(await w.tokens.read(reservationId)).toBeUndefined();
  expect(w.chargeRetries.dueAt(reservationId)).toBeUndefined();
};

const allocationOf = async (w: World, productId: string, reservationId: string) =>
  (await w.product(productId)).allocations.get(reservationId);

/** The saga tests hand one recorded event to a node by hand; a missing one is a broken setup, not a finding. */
const eventOf = async (w: World, kind: "reservation" | "payment", id: string, type: string): Promise<StoredEvent> => {
  const event = (await w.streamEvents(kind, id)).find((candidate) => candidate.type === type);
  if (!event) throw new Error(`no ${type}`);
  return event;
};

/** The two places a saga step shows up: the reservation's status and its units' stage on the product. */
const expectStatusAndStage = async (w: World, productId: string, reservationId: string, status: string, stage: string): Promise<void> => {
  expect((await w.reservation(reservationId)).status).toBe(status);
  expect((await allocationOf(w, productId, reservationId))?.stage).toBe(stage);
};

/** A saga node on `w`'s repositories, with some replaced (to interleave another process's command). */
const sagaNode = (w: World, replaced: Partial<Pick<ReservationSagaDependencies, "reservations" | "payments">>): Consumer =>
  reservationSaga({
    products: w.products,
    reservations: w.reservations,
    payments: w.payments,
    provider: w.provider,
    paymentTokens: w.tokens,
    chargeRetries: w.chargeRetries,
    logger: testLogger(),
    ...replaced,
  });

/** A throw is a permanent failure to the consumer group: the event would be parked. */
const outcomeOf = (node: Consumer, event: Parameters<typeof consumedOf>[0]): Promise<string> =>
  node.handle(consumedOf(event)).then(
    () => "handled",
    (error: unknown) => `threw ${String(error)}`,
  );

describe("the reservation saga, driven directly", () => {
  let store: Store;
  let w: World;

  beforeAll(async () => {
    store = await startStore();
    w = world(store.client);
  });

  afterAll(async () => {
    await store.close();
  });

  it("requests the payment of a reservation placed without a token, and settles it once paid: confirmed, units committed", async () => {
    const productId = await w.registerProduct({ unitPrice: 2500 });
    const { reservationId, customer } = await w.place(productId, { quantity: 2 });
    await w.runSaga(reservationId);

    const payment = await w.payment(reservationId);
    expect(payment).toMatchObject({ status: "pending", amount: 5000, customerId: customer.id, reservationId, attempts: [] });
    expect((await w.reservation(reservationId)).status).toBe("placed");
    expect(await allocationOf(w, productId, reservationId)).toEqual({ quantity: 2, stage: "held", customerId: customer.id });
    expect(w.provider.chargesOf(reservationId)).toBe(0);

    // Requested when the reservation was placed (so payments work while no worker runs), in the same saga.
    const [placed] = await w.streamEvents("reservation", reservationId);
    const [requested] = await w.streamEvents("payment", reservationId);
    expect(requested?.metadata).toMatchObject({ $correlationId: reservationId, actor: { role: "customer" } });
    expect((placed?.metadata as { $causationId?: string } | undefined)?.$causationId).toBe(
      (requested?.metadata as { $causationId?: string } | undefined)?.$causationId,
    );

    const paid = await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    expect(paid.status).toBe("paid");
    await w.runSaga(reservationId);

    expect((await w.reservation(reservationId)).status).toBe("confirmed");
    expect(await allocationOf(w, productId, reservationId)).toEqual({ quantity: 2, stage: "committed", customerId: customer.id });
    const product = await w.product(productId);
    expect({ held: product.held, committed: product.committed, available: product.available }).toEqual({
      held: 0,
      committed: 2,
      available: 3,
    });
  });

  it("moves a paid reservation of a product that needs acceptance to awaiting-acceptance, units committed; accept confirms", async () => {
    const productId = await w.registerProduct({ sellerAcceptance: true });
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await w.runSaga(reservationId);
    await expectStatusAndStage(w, productId, reservationId, "awaiting-acceptance", "committed");

    await w.reservationService.accept(contextOf(w.seller), reservationId);
    await w.runSaga(reservationId);
    expect((await w.reservation(reservationId)).status).toBe("confirmed");
    expect(await sideEffectCounts(w, reservationId, productId)).toMatchObject({ HeldUnitsCommitted: 1, HeldUnitsReleased: 0 });
  });

  it("settles a zero amount at once without calling the provider: paid, confirmed, committed", async () => {
    const productId = await w.registerProduct({ unitPrice: 0 });
    const { reservationId } = await w.place(productId, { quantity: 3 });
    await w.runSaga(reservationId);
    const payment = await w.payment(reservationId);
    expect(payment?.status).toBe("paid");
    expect(payment?.attempts).toMatchObject([{ attemptId: "zero-amount", outcome: "succeeded", provider: "none" }]);
    await expectStatusAndStage(w, productId, reservationId, "confirmed", "committed");
    expect(w.provider.chargesOf(reservationId)).toBe(0);
  });

  it("charges a reservation placed with tok_ok automatically, then forgets the token", async () => {
    const productId = await w.registerProduct();
    const { reservationId } = await w.place(productId, { paymentToken: "tok_ok" });
    expect(await w.tokens.read(reservationId)).toBe("tok_ok"); // kept until the saga uses it
    await w.runSaga(reservationId);
    expect(w.provider.chargesOf(reservationId)).toBe(1);
    expect((await w.payment(reservationId))?.status).toBe("paid");
    await expectStatusAndStage(w, productId, reservationId, "confirmed", "committed");
    await tokenGone(w, reservationId);
  });

  it("records a declined automatic charge and leaves the payment pending and the reservation placed", async () => {
    const productId = await w.registerProduct();
    const { reservationId } = await w.place(productId, { paymentToken: "tok_declined" });
    await w.runSaga(reservationId);
    const payment = await w.payment(reservationId);
    expect(payment?.status).toBe("pending");
    expect(payment?.attempts).toMatchObject([{ outcome: "declined" }]);
    await expectStatusAndStage(w, productId, reservationId, "placed", "held");
    await tokenGone(w, reservationId);
  });

  it("records a failed automatic charge when the provider is down, keeps the token and schedules a retry within the hold", async () => {
    const productId = await w.registerProduct();
    const { reservationId } = await w.place(productId, { paymentToken: "tok_unavailable" });
    const before = Date.now();
    await w.runSaga(reservationId);
    const payment = await w.payment(reservationId);
    expect(payment?.status).toBe("pending");
    expect(payment?.attempts).toMatchObject([{ outcome: "failed" }]);
    const reservation = await w.reservation(reservationId);
    expect(reservation.status).toBe("placed");
    expect(await w.tokens.read(reservationId)).toBe("tok_unavailable");
    // The simulated outage asks for 5 s (Retry-After): the retry waits at least that, and ends before the hold does.
    const due = w.chargeRetries.dueAt(reservationId)?.getTime() ?? 0;
    expect(due).toBeGreaterThanOrEqual(before + 5000);
    expect(due).toBeLessThan(Date.parse(reservation.expiresAt));
    // A redelivery of the same events does not charge again: later attempts are the retry schedule's.
    await w.runSaga(reservationId);
    expect(w.provider.chargesOf(reservationId)).toBe(1);
  });

  it("forgets the token of a reservation cancelled while its automatic charge waits for a retry", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId, { paymentToken: "tok_unavailable" });
    await w.runSaga(reservationId);
    expect(await w.tokens.read(reservationId)).toBe("tok_unavailable");
    await w.reservationService.cancel(contextOf(customer), reservationId);
    await w.runSaga(reservationId);
    expect(await w.tokens.read(reservationId)).toBeUndefined();
  });

  it("voids the payment and releases the units of a reservation cancelled before payment", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.reservationService.cancel(contextOf(customer), reservationId);
    await w.runSaga(reservationId);
    expect((await w.payment(reservationId))?.status).toBe("voided");
    expect((await allocationOf(w, productId, reservationId))?.stage).toBe("released");
    const released = (await w.streamEvents("product", productId)).filter((event) => event.type === "HeldUnitsReleased");
    expect(released.map((event) => (event.data as { reason: string }).reason)).toEqual(["cancelled"]);
    expect((await w.product(productId)).held).toBe(0);
    expect(await sideEffectCounts(w, reservationId, productId)).toMatchObject({
      PaymentVoided: 1,
      PaymentRefunded: 0,
      HeldUnitsCommitted: 0,
    });
  });

  it("refunds (exactly once) and releases the units of a reservation cancelled after payment", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await w.runSaga(reservationId);
    expect((await w.reservation(reservationId)).status).toBe("confirmed");

    await w.reservationService.cancel(contextOf(customer), reservationId);
    await w.runSaga(reservationId);
    const payment = await w.payment(reservationId);
    expect(payment?.status).toBe("refunded");
    expect(payment?.refund?.amount).toBe(1000);
    expect(w.provider.refundsOf(reservationId)).toBe(1);
    expect(await sideEffectCounts(w, reservationId, productId)).toEqual(PAID_THEN_REFUNDED);
    expect((await w.product(productId)).committed).toBe(0);
  });

  it("refunds and releases a paid order the seller rejects", async () => {
    const productId = await w.registerProduct({ sellerAcceptance: true, fulfilmentSteps: ["cooking", "delivered"] });
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await w.runSaga(reservationId);
    await w.reservationService.reject(contextOf(w.seller), reservationId, "kitchen closed");
    await w.runSaga(reservationId);
    expect((await w.reservation(reservationId)).status).toBe("rejected");
    expect((await w.payment(reservationId))?.status).toBe("refunded");
    const releases = (await w.streamEvents("product", productId)).filter((event) => event.type === "CommittedUnitsReleased");
    expect(releases.map((event) => (event.data as { reason: string }).reason)).toEqual(["rejected"]);
  });

  it("keeps sold units committed through the fulfilment steps to completion", async () => {
    const productId = await w.registerProduct({ fulfilmentSteps: ["cooking", "delivered"] });
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await w.runSaga(reservationId);
    await w.reservationService.progress(contextOf(w.seller), reservationId, "cooking");
    await w.reservationService.progress(contextOf(customer), reservationId, "delivered");
    await w.runSaga(reservationId);
    await expectStatusAndStage(w, productId, reservationId, "completed", "committed");
    expect((await w.payment(reservationId))?.status).toBe("paid");
  });

  it("gives a rental's units back when it is returned: started, returned, completed, released", async () => {
    const productId = await w.registerProduct({ kind: "rental", capacity: 1 });
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await w.runSaga(reservationId);
    await w.reservationService.start(contextOf(customer), reservationId);
    await w.runSaga(reservationId);
    expect((await w.reservation(reservationId)).status).toBe("in-use");
    expect((await w.product(productId)).committed).toBe(1);

    await w.reservationService.return(contextOf(customer), reservationId);
    await w.runSaga(reservationId);
    expect((await w.reservation(reservationId)).status).toBe("completed");
    const releases = (await w.streamEvents("product", productId)).filter((event) => event.type === "CommittedUnitsReleased");
    expect(releases.map((event) => (event.data as { reason: string }).reason)).toEqual(["returned"]);
    expect((await w.product(productId)).available).toBe(1);
    expect((await w.payment(reservationId))?.status).toBe("paid"); // a returned rental is not refunded
  });

  describe("expiry (the watchdog's tick with an injected clock)", () => {
    let redis: Redis;
    let key: string;

    beforeAll(() => {
      redis = redisClient();
      key = uniqueName("test:worker:saga-deadlines:");
    });

    afterAll(async () => {
      await redis.del(key);
      redis.disconnect();
    });

    it("expires an unpaid reservation at its deadline; the saga voids its payment and releases its units", async () => {
      const productId = await w.registerProduct({ holdTtlSeconds: 10 });
      const { reservationId } = await w.place(productId);
      await w.runSaga(reservationId);
      const schedule = new DeadlineSchedule(redis, key);
      const deadlines = holdDeadlineConsumer(schedule);
      for (const event of await w.streamEvents("product", productId)) await deadlines.handle(consumedOf(event));
      const expiresAt = new Date((await w.reservation(reservationId)).expiresAt);

      const poller = new HoldExpiryPoller({
        schedule,
        products: w.products,
        reservations: w.reservations,
        logger: testLogger(),
        clock: () => new Date(expiresAt.getTime() + 1000),
      });
      expect(await poller.tick()).toBe(1);
      expect((await w.reservation(reservationId)).status).toBe("expired");
      await w.runSaga(reservationId);
      expect((await w.payment(reservationId))?.status).toBe("voided");
      const released = (await w.streamEvents("product", productId)).filter((event) => event.type === "HeldUnitsReleased");
      expect(released.map((event) => (event.data as { reason: string }).reason)).toEqual(["expired"]);
      expect(await schedule.size()).toBe(0);
    });
  });

  it("refunds a payment that succeeded after its reservation was cancelled (compensation)", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    // The customer cancels and pays at the same moment; the saga sees both only afterwards.
    await w.reservationService.cancel(contextOf(customer), reservationId);
    const paid = await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    expect(paid.status).toBe("paid");
    await w.runSaga(reservationId);

    expect((await w.reservation(reservationId)).status).toBe("cancelled");
    expect((await w.payment(reservationId))?.status).toBe("refunded");
    expect(w.provider.refundsOf(reservationId)).toBe(1);
    expect(await sideEffectCounts(w, reservationId, productId)).toMatchObject({
      PaymentSucceeded: 1,
      PaymentRefunded: 1,
      PaymentVoided: 0,
      HeldUnitsCommitted: 0,
      HeldUnitsReleased: 1,
    });
  });

  it("refunds at the provider a token charge that went through while the reservation was cancelled and its payment voided", async () => {
    const provider = new CountingProvider();
    const racing = world(store.client, { provider });
    const productId = await racing.registerProduct();
    const { reservationId, customer } = await racing.place(productId, { paymentToken: "tok_ok" });
    // While the provider is charging, the customer cancels and (another node of) the saga voids the payment.
    provider.afterCharge = async () => {
      provider.afterCharge = undefined;
      await racing.reservationService.cancel(contextOf(customer), reservationId);
      const [, cancelled] = await racing.streamEvents("reservation", reservationId);
      if (cancelled) await racing.saga.handle(consumedOf(cancelled));
    };
    await racing.runSaga(reservationId);

    expect(provider.chargesOf(reservationId)).toBe(1); // money was taken
    expect((await racing.payment(reservationId))?.status).toBe("voided");
    // ... so it must be given back: DESIGN §5 "refund at the provider if a charge raced a void".
    expect(provider.refundsOf(reservationId)).toBe(1);
  });

  it("asks for a retry (TransientError) when the provider cannot refund yet, and refunds on the next delivery", async () => {
    const provider = new OutageProvider();
    const flaky = world(store.client, { provider });
    const productId = await flaky.registerProduct();
    const { reservationId, customer } = await flaky.place(productId);
    await flaky.runSaga(reservationId);
    await flaky.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await flaky.runSaga(reservationId);
    await flaky.reservationService.cancel(contextOf(customer), reservationId);
    const cancelled = await eventOf(flaky, "reservation", reservationId, "ReservationCancelled");

    provider.refundsDown = true;
    await expect(flaky.saga.handle(consumedOf(cancelled))).rejects.toBeInstanceOf(TransientError);
    expect((await flaky.payment(reservationId))?.status).toBe("paid");

    provider.refundsDown = false;
    await flaky.saga.handle(consumedOf(cancelled, 1));
    expect((await flaky.payment(reservationId))?.status).toBe("refunded");
    expect((await allocationOf(flaky, productId, reservationId))?.stage).toBe("released");
    expect(await sideEffectCounts(flaky, reservationId, productId)).toMatchObject({ PaymentRefunded: 1, CommittedUnitsReleased: 1 });
  });

  it("refunds, instead of failing, when settling loses the race against a cancel (DESIGN: on invalid-transition → RefundPayment)", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    // This saga node loads the reservation (placed) and the payment (paid); just before it settles,
    // the customer's cancel lands through another process.
    const racingReservations = new InterleavingRepository<ReservationCommand, ReservationEvent, ReservationState>(
      store.client,
      reservationAggregate,
    );
    racingReservations.before = async (command) => {
      if (command.type !== "SettleReservationPayment") return;
      racingReservations.before = undefined;
      await w.reservationService.cancel(contextOf(customer), reservationId);
    };
    const node = sagaNode(w, { reservations: racingReservations });
    const succeeded = await eventOf(w, "payment", reservationId, "PaymentSucceeded");
    expect(await outcomeOf(node, succeeded)).toBe("handled");
    expect((await w.payment(reservationId))?.status).toBe("refunded");
  });

  it("refunds, instead of failing, when voiding loses the race against a payment (domain README: refund instead)", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId);
    await w.runSaga(reservationId);
    await w.reservationService.cancel(contextOf(customer), reservationId);
    // This saga node loads the reservation (cancelled) and the payment (pending); just before it
    // voids, the customer's payment lands through the API.
    const racingPayments = new InterleavingRepository<PaymentCommand, PaymentEvent, PaymentState>(store.client, paymentAggregate);
    racingPayments.before = async (command) => {
      if (command.type !== "VoidPayment") return;
      racingPayments.before = undefined;
      await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    };
    const node = sagaNode(w, { payments: racingPayments });
    const cancelled = await eventOf(w, "reservation", reservationId, "ReservationCancelled");
    expect(await outcomeOf(node, cancelled)).toBe("handled");
    expect((await w.payment(reservationId))?.status).toBe("refunded");
  });

  it("two saga nodes handling the same events at the same time write every side effect once", async () => {
    const provider = new CountingProvider();
    const nodeA = world(store.client, { provider });
    const nodeB = world(store.client, { provider });
    const productId = await nodeA.registerProduct();
    const { reservationId, customer } = await nodeA.place(productId);
    const delivered = new Set<string>();
    const failures: string[] = [];
    const deliverToBoth = async () => {
      for (let round = 0; round < 20; round += 1) {
        const events = [
          ...(await nodeA.streamEvents("reservation", reservationId)),
          ...(await nodeA.streamEvents("payment", reservationId)),
        ];
        const fresh = events.filter((event) => !delivered.has(event.id));
        if (fresh.length === 0) return;
        for (const event of fresh) delivered.add(event.id);
        // Every fresh event to both nodes, all at once (competing consumers redelivering after a timeout).
        await Promise.all(
          fresh.flatMap((event) =>
            [nodeA, nodeB].map((node) =>
              node.saga.handle(consumedOf(event)).catch((error: unknown) => void failures.push(`${event.type}: ${String(error)}`)),
            ),
          ),
        );
      }
    };
    await deliverToBoth();
    await nodeA.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await deliverToBoth();
    expect((await nodeA.reservation(reservationId)).status).toBe("confirmed");
    await nodeB.reservationService.cancel(contextOf(customer), reservationId);
    await deliverToBoth();
    expect(failures).toEqual([]);
    expect(await sideEffectCounts(nodeA, reservationId, productId)).toEqual(PAID_THEN_REFUNDED);
    expect(new Set(provider.refunds.map((refund) => refund.refundId)).size).toBe(1);
  });

  describe("redelivery: every event delivered twice, in shuffled order", () => {
    type Step = (w: World, ids: { reservationId: string; customer: ReturnType<typeof contextOf> }) => Promise<unknown>;
    const lifecycles: {
      name: string;
      terms: Parameters<World["registerProduct"]>[0];
      token?: string;
      steps: Step[];
      expected: Record<string, number>;
    }[] = [
      {
        name: "paid, then cancelled (refund)",
        terms: {},
        steps: [
          (w, { reservationId, customer }) => w.paymentService.pay(customer, reservationId, "tok_ok"),
          (w, { reservationId, customer }) => w.reservationService.cancel(customer, reservationId),
        ],
        expected: PAID_THEN_REFUNDED,
      },
      {
        name: "cancelled unpaid (void)",
        terms: {},
        steps: [(w, { reservationId, customer }) => w.reservationService.cancel(customer, reservationId)],
        expected: {
          PaymentRequested: 1,
          PaymentSucceeded: 0,
          PaymentRefunded: 0,
          PaymentVoided: 1,
          HeldUnitsCommitted: 0,
          HeldUnitsReleased: 1,
          CommittedUnitsReleased: 0,
        },
      },
      {
        name: "token charge, seller accepts, customer cancels (refund)",
        terms: { sellerAcceptance: true },
        token: "tok_ok",
        steps: [
          (w, { reservationId }) => w.reservationService.accept(contextOf(w.seller), reservationId),
          (w, { reservationId, customer }) => w.reservationService.cancel(customer, reservationId),
        ],
        expected: PAID_THEN_REFUNDED,
      },
      {
        name: "rental paid, started, returned",
        terms: { kind: "rental" },
        steps: [
          (w, { reservationId, customer }) => w.paymentService.pay(customer, reservationId, "tok_ok"),
          (w, { reservationId, customer }) => w.reservationService.start(customer, reservationId),
          (w, { reservationId, customer }) => w.reservationService.return(customer, reservationId),
        ],
        expected: {
          PaymentRequested: 1,
          PaymentSucceeded: 1,
          PaymentRefunded: 0,
          PaymentVoided: 0,
          HeldUnitsCommitted: 1,
          HeldUnitsReleased: 0,
          CommittedUnitsReleased: 1,
        },
      },
    ];

    for (const lifecycle of lifecycles) {
      for (const seed of [1, 2, 3]) {
        it(`${lifecycle.name} — seed ${seed}: no duplicate payment, refund, void, commit or release`, async () => {
          const productId = await w.registerProduct(lifecycle.terms);
          const { reservationId, customer } = await w.place(
            productId,
            lifecycle.token === undefined ? {} : { paymentToken: lifecycle.token },
          );
          const ids = { reservationId, customer: contextOf(customer) };
          let round = 0;
          /** Delivers everything written so far, twice each, shuffled, until nothing new appears. */
          const deliverAllTwice = async () => {
            for (let fixpoint = 0; fixpoint < 20; fixpoint += 1) {
              const before =
                (await w.streamEvents("reservation", reservationId)).length + (await w.streamEvents("payment", reservationId)).length;
              const events = [...(await w.streamEvents("reservation", reservationId)), ...(await w.streamEvents("payment", reservationId))];
              round += 1;
              for (const event of shuffled([...events, ...events], seed * 1000 + round)) await w.saga.handle(consumedOf(event, 1));
              const after =
                (await w.streamEvents("reservation", reservationId)).length + (await w.streamEvents("payment", reservationId)).length;
              if (after === before) return;
            }
            throw new Error("the saga did not come to rest");
          };
          await deliverAllTwice();
          for (const step of lifecycle.steps) {
            await step(w, ids);
            await deliverAllTwice();
          }
          await deliverAllTwice(); // and once more, for good measure
          expect(await sideEffectCounts(w, reservationId, productId)).toEqual(lifecycle.expected);
          const refunds = new Set(
            w.provider.refunds.filter((refund) => refund.paymentId === reservationId).map((refund) => refund.refundId),
          );
          expect(refunds.size).toBe(lifecycle.expected.PaymentRefunded);
          expect((await w.product(productId)).held).toBe(0);
        });
      }
    }
  });
});

describe("the reservation saga inside the running service (role all)", () => {
  const secret = `worker-tests-${randomUUID()}`;
  let service: RunningService;
  let w: World;
  let redis: Redis;
  const keyRoot = uniqueKeyRoot();

  beforeAll(async () => {
    const config = loadConfig({
      ROLE: "all",
      READ_MODEL_KEY_ROOT: keyRoot,
      PORT: "0",
      EMBEDDED_EVENTSTORE_PORT: "0",
      AUTH_SECRET: secret,
      LOG_LEVEL: "silent",
      REDIS_URL: TEST_REDIS_URL,
    });
    service = await startService(config, testLogger(), { inMemoryEventStore: true, holdExpiryIntervalMs: 50 });
    redis = redisClient();
    w = world(service.eventStore.client, { paymentTokens: new RedisPaymentTokenStore(redis, keyRoot) });
  }, 60_000);

  afterAll(async () => {
    // Bounded: see "stops after the saga used a payment token" below.
    await Promise.race([service?.stop(), sleep(10_000)]);
    await deleteKeysUnder(redis, keyRoot);
    redis?.disconnect();
  }, 30_000);

  it("requests the payment, and confirms and commits once the customer pays", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId);
    await waitFor("the payment to be requested", async () => (await w.payment(reservationId))?.status === "pending");
    await w.paymentService.pay(contextOf(customer), reservationId, "tok_ok");
    await waitFor("the reservation to be confirmed", async () => (await w.reservation(reservationId)).status === "confirmed");
    await waitFor("the units to be committed", async () => (await allocationOf(w, productId, reservationId))?.stage === "committed");
  });

  it("charges a token, and refunds and releases on cancel", async () => {
    const productId = await w.registerProduct();
    const { reservationId, customer } = await w.place(productId, { paymentToken: "tok_ok" });
    await waitFor("the units to be committed", async () => (await allocationOf(w, productId, reservationId))?.stage === "committed");
    expect((await w.reservation(reservationId)).status).toBe("confirmed");
    await w.reservationService.cancel(contextOf(customer), reservationId);
    await waitFor("the refund", async () => (await w.payment(reservationId))?.status === "refunded");
    await waitFor("the release", async () => (await allocationOf(w, productId, reservationId))?.stage === "released");
    const counts = await sideEffectCounts(w, reservationId, productId);
    expect(counts).toMatchObject({ PaymentRefunded: 1, CommittedUnitsReleased: 1, PaymentSucceeded: 1 });
  });

  it("confirms a zero-amount reservation without a payment step", async () => {
    const productId = await w.registerProduct({ unitPrice: 0 });
    const { reservationId } = await w.place(productId);
    await waitFor("the units to be committed", async () => (await allocationOf(w, productId, reservationId))?.stage === "committed");
    expect((await w.reservation(reservationId)).status).toBe("confirmed");
    expect((await w.payment(reservationId))?.attempts).toMatchObject([{ provider: "none" }]);
  });

  it("leaves declined and failed automatic charges pending, and parks nothing along the way", async () => {
    const productId = await w.registerProduct();
    const declined = await w.place(productId, { paymentToken: "tok_declined" });
    const failed = await w.place(productId, { paymentToken: "tok_unavailable" });
    await waitFor("the declined attempt", async () => (await w.payment(declined.reservationId))?.attempts.length === 1);
    await waitFor("the failed attempt", async () => (await w.payment(failed.reservationId))?.attempts.length === 1);
    expect((await w.payment(declined.reservationId))?.attempts[0]?.outcome).toBe("declined");
    expect((await w.payment(failed.reservationId))?.attempts[0]?.outcome).toBe("failed");
    await expect(w.paymentService.pay(contextOf(declined.customer), declined.reservationId, "tok_declined")).rejects.toBeInstanceOf(
      PaymentDeclinedError,
    );
    await expect(w.paymentService.pay(contextOf(failed.customer), failed.reservationId, "tok_unavailable")).rejects.toBeInstanceOf(
      PaymentProviderUnavailableError,
    );
    await w.paymentService.pay(contextOf(failed.customer), failed.reservationId, "tok_ok");
    await waitFor("the later payment to confirm", async () => (await w.reservation(failed.reservationId)).status === "confirmed");
    expect(countTypes(await readStream(w.client, "$persistentsubscription-$all::reservation-saga-parked"))).toEqual({});
  });
});

describe("shutting the service down", () => {
  // The same scenario with and without a payment token: only the token read differs.
  for (const paymentToken of [undefined, "tok_ok"] as const) {
    it(`stops (stop() resolves) after a reservation placed ${paymentToken ? "with a payment token" : "without a token"} was confirmed`, async () => {
      const keyRoot = uniqueKeyRoot();
      const config = loadConfig({
        ROLE: "all",
        READ_MODEL_KEY_ROOT: keyRoot,
        PORT: "0",
        EMBEDDED_EVENTSTORE_PORT: "0",
        AUTH_SECRET: `worker-tests-${randomUUID()}`,
        LOG_LEVEL: "silent",
        REDIS_URL: TEST_REDIS_URL,
      });
      const service = await startService(config, testLogger(), { inMemoryEventStore: true });
      const redis = redisClient();
      const w = world(service.eventStore.client, { paymentTokens: new RedisPaymentTokenStore(redis, keyRoot) });
      const productId = await w.registerProduct({ unitPrice: paymentToken ? 1000 : 0 });
      const { reservationId } = await w.place(productId, paymentToken ? { paymentToken } : {});
      try {
        await waitFor("the reservation to be confirmed", async () => (await w.reservation(reservationId)).status === "confirmed");
        const outcome = await Promise.race([
          service.stop().then(() => "stopped" as const),
          sleep(10_000).then(() => "still stopping" as const),
        ]);
        expect(outcome).toBe("stopped");
      } finally {
        await deleteKeysUnder(redis, keyRoot);
        redis.disconnect();
        await service.eventStore.embedded?.stop();
      }
    }, 30_000);
  }
});
