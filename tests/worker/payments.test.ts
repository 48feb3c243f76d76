/**
 * Paying (src/application/payment-service.ts: `pay` and the shared `chargePayment`) against the
 * real embedded store, with the simulated provider wrapped to count its calls; and the circuit
 * breaker around providers (src/infrastructure/payments/guarded-provider.ts).
 */
import { describe, expect, it } from "vitest";
import { AccessDeniedError, PaymentDeclinedError, ResourceNotFoundError } from "../../src/application/errors.js";
import { createPaymentService } from "../../src/application/payment-service.js";
import {
  type ChargeRequest,
  type ChargeResult,
  type PaymentProvider,
  PaymentProviderUnavailableError,
} from "../../src/application/payment-provider.js";
import type { Actor } from "../../src/application/ports.js";
import { PaymentNotPayableError } from "../../src/domain/index.js";
import { GuardedPaymentProvider } from "../../src/infrastructure/payments/guarded-provider.js";
import { SimulatedPaymentProvider } from "../../src/infrastructure/payments/simulated-provider.js";
import { CountingProvider, type Store, type World, consumedOf, contextOf, customer, useWorld, waitFor, world } from "./support.js";

describe("PaymentService.pay", () => {
  let store: Store;
  let w: World;
  useWorld((started, startedStore) => {
    w = started;
    store = startedStore;
  });

  /** A placed reservation whose payment the saga has requested. */
  const pendingPayment = async (unitPrice = 1000): Promise<{ paymentId: string; productId: string; owner: Actor }> => {
    const productId = await w.registerProduct({ unitPrice });
    const { reservationId, customer: owner } = await w.place(productId);
    await w.runSaga(reservationId);
    return { paymentId: reservationId, productId, owner };
  };

  const attemptsOf = async (paymentId: string) => (await w.payment(paymentId))?.attempts ?? [];

  it("charges the provider and answers the paid payment", async () => {
    const { paymentId, owner } = await pendingPayment(1500);
    const view = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok");
    expect(view).toMatchObject({
      id: paymentId,
      reservationId: paymentId,
      customerId: owner.id,
      amount: 1500,
      currency: "KRW",
      status: "paid",
    });
    expect(view.attempts).toMatchObject([{ outcome: "succeeded" }]);
    expect(w.provider.charges.filter((charge) => charge.paymentId === paymentId)).toMatchObject([
      { amount: 1500, currency: "KRW", token: "tok_ok" },
    ]);
    const events = await w.streamEvents("payment", paymentId);
    expect(events.map((event) => event.type)).toEqual(["PaymentRequested", "PaymentSucceeded"]);
    expect(events[1]?.metadata).toMatchObject({ $correlationId: paymentId, actor: { id: owner.id, role: "customer" } });
    expect(view.revision).toBe(1);
  });

  it("answers a paid payment unchanged, without calling the provider or recording an attempt", async () => {
    const { paymentId, owner } = await pendingPayment();
    const first = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok");
    const again = await w.paymentService.pay(contextOf(owner), paymentId, "tok_declined");
    expect(again).toEqual(first);
    expect(w.provider.chargesOf(paymentId)).toBe(1);
    expect(await attemptsOf(paymentId)).toHaveLength(1);
  });

  it("records a declined attempt and throws PaymentDeclinedError; the payment stays pending", async () => {
    const { paymentId, owner } = await pendingPayment();
    const error = await w.paymentService.pay(contextOf(owner), paymentId, "tok_declined").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentDeclinedError);
    expect((error as PaymentDeclinedError).payment).toMatchObject({ status: "pending", attempts: [{ outcome: "declined" }] });
    expect(await attemptsOf(paymentId)).toMatchObject([{ outcome: "declined", provider: "simulated" }]);
    expect((await w.payment(paymentId))?.status).toBe("pending");
  });

  it("records a failed attempt and throws PaymentProviderUnavailableError when the provider is down; a later payment succeeds", async () => {
    const { paymentId, owner } = await pendingPayment();
    const error = await w.paymentService.pay(contextOf(owner), paymentId, "tok_unavailable").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentProviderUnavailableError);
    expect((error as PaymentProviderUnavailableError).retryAfterSeconds).toBeGreaterThan(0);
    expect(await attemptsOf(paymentId)).toMatchObject([{ outcome: "failed" }]);
    expect((await w.payment(paymentId))?.status).toBe("pending");

    const paid = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok");
    expect(paid.status).toBe("paid");
    expect(paid.attempts.map((attempt) => attempt.outcome)).toEqual(["failed", "succeeded"]);
  });

  it("answers the same Idempotency-Key with the first answer, calling the provider once (declined)", async () => {
    const { paymentId, owner } = await pendingPayment();
    const first = await w.paymentService.pay(contextOf(owner), paymentId, "tok_declined", "key-1").catch((e: unknown) => e);
    const second = await w.paymentService.pay(contextOf(owner), paymentId, "tok_declined", "key-1").catch((e: unknown) => e);
    expect(first).toBeInstanceOf(PaymentDeclinedError);
    expect(second).toBeInstanceOf(PaymentDeclinedError);
    expect((second as PaymentDeclinedError).reason).toBe((first as PaymentDeclinedError).reason);
    expect(w.provider.chargesOf(paymentId)).toBe(1);
    expect(await attemptsOf(paymentId)).toHaveLength(1);

    // Another key is another attempt.
    const third = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok", "key-2");
    expect(third.status).toBe("paid");
    expect(w.provider.chargesOf(paymentId)).toBe(2);
  });

  it("answers the same Idempotency-Key with the first answer, calling the provider once (paid)", async () => {
    const { paymentId, owner } = await pendingPayment();
    const first = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok", "key-1");
    const second = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok", "key-1");
    expect(second).toEqual(first);
    expect(w.provider.chargesOf(paymentId)).toBe(1);
  });

  it("records one attempt when the same Idempotency-Key arrives twice at once", async () => {
    const { paymentId, owner } = await pendingPayment();
    const answers = await Promise.all([
      w.paymentService.pay(contextOf(owner), paymentId, "tok_ok", "key-1"),
      w.paymentService.pay(contextOf(owner), paymentId, "tok_ok", "key-1"),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual(["paid", "paid"]);
    expect(await attemptsOf(paymentId)).toHaveLength(1);
    expect((await w.streamEvents("payment", paymentId)).filter((event) => event.type === "PaymentSucceeded")).toHaveLength(1);
  });

  it("refuses to pay a voided payment (payment-not-payable) without calling the provider", async () => {
    const { paymentId, owner } = await pendingPayment();
    await w.reservationService.cancel(contextOf(owner), paymentId);
    await w.runSaga(paymentId);
    expect((await w.payment(paymentId))?.status).toBe("voided");
    const error = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentNotPayableError);
    expect((error as PaymentNotPayableError).code).toBe("payment-not-payable");
    expect(w.provider.chargesOf(paymentId)).toBe(0);
  });

  it("refuses to pay a refunded payment (payment-not-payable)", async () => {
    const { paymentId, owner } = await pendingPayment();
    await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok");
    await w.runSaga(paymentId);
    await w.reservationService.cancel(contextOf(owner), paymentId);
    await w.runSaga(paymentId);
    expect((await w.payment(paymentId))?.status).toBe("refunded");
    const error = await w.paymentService.pay(contextOf(owner), paymentId, "tok_ok", "fresh-key").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentNotPayableError);
    expect(w.provider.chargesOf(paymentId)).toBe(1);
  });

  it("lets only the payment's customer pay", async () => {
    const { paymentId } = await pendingPayment();
    for (const actor of [customer(), w.seller, { id: "admin-ada", role: "admin" } as const]) {
      await expect(w.paymentService.pay(contextOf(actor), paymentId, "tok_ok")).rejects.toBeInstanceOf(AccessDeniedError);
    }
    await expect(w.paymentService.pay(contextOf(customer()), "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10", "tok_ok")).rejects.toBeInstanceOf(
      ResourceNotFoundError,
    );
    expect(w.provider.chargesOf(paymentId)).toBe(0);
    expect((await w.payment(paymentId))?.attempts).toEqual([]);
  });

  it("refunds at the provider a charge that went through while the payment was voided", async () => {
    const provider = new CountingProvider();
    const racing = world(store.client, { provider });
    const productId = await racing.registerProduct();
    const { reservationId, customer: owner } = await racing.place(productId);
    await racing.runSaga(reservationId);
    // The provider takes the money; meanwhile the customer cancels and the saga voids the payment.
    provider.afterCharge = async () => {
      provider.afterCharge = undefined;
      await racing.reservationService.cancel(contextOf(owner), reservationId);
      const [, cancelled] = await racing.streamEvents("reservation", reservationId);
      if (cancelled) await racing.saga.handle(consumedOf(cancelled));
    };
    const answer = await racing.paymentService.pay(contextOf(owner), reservationId, "tok_ok").catch((e: unknown) => e);
    expect(answer).toBeInstanceOf(PaymentNotPayableError);
    expect(provider.chargesOf(reservationId)).toBe(1);
    expect((await racing.payment(reservationId))?.status).toBe("voided");
    // DESIGN §5 / domain README: "refund at the provider if a charge raced a void".
    expect(provider.refundsOf(reservationId)).toBe(1);
  });

  it("answers 'unavailable' with a recorded failed attempt while the provider's circuit is open", async () => {
    const failing = new FlakyProvider();
    failing.healthy = false;
    // One customer here: a circuit that opens on one customer's failures makes the open state reachable.
    const guarded = new GuardedPaymentProvider(failing, {
      volumeThreshold: 2,
      errorThresholdPercentage: 50,
      resetTimeoutMs: 60_000,
      minCustomersToOpen: 1,
    });
    const service = createPaymentService(w.payments, guarded);
    const { paymentId, owner } = await pendingPayment();
    const errors: unknown[] = [];
    for (let i = 0; i < 3; i += 1) errors.push(await service.pay(contextOf(owner), paymentId, "tok_ok").catch((e: unknown) => e));
    expect(errors.every((error) => error instanceof PaymentProviderUnavailableError)).toBe(true);
    expect(guarded.state).toBe("open");
    expect(failing.calls).toBe(2); // the third never reached the provider
    expect((errors[2] as PaymentProviderUnavailableError).retryAfterSeconds).toBe(60);
    expect((await attemptsOf(paymentId)).map((attempt) => attempt.outcome)).toEqual(["failed", "failed", "failed"]);
    expect((await w.payment(paymentId))?.status).toBe("pending");
  });
});

/** A provider that fails like an outage (throws a plain error) while `healthy` is false. */
class FlakyProvider implements PaymentProvider {
  readonly name = "flaky";
  healthy = true;
  calls = 0;
  private readonly inner = new SimulatedPaymentProvider();

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    this.calls += 1;
    if (!this.healthy) throw new Error("connect ECONNREFUSED 10.0.0.1:443");
    return this.inner.charge(request);
  }

  async refund(): Promise<{ readonly reference: string }> {
    this.calls += 1;
    if (!this.healthy) throw new Error("connect ECONNREFUSED 10.0.0.1:443");
    return { reference: "re_flaky" };
  }
}

const charge = (paymentId = "p-1", token = "tok_ok", customerId = `customer-of-${paymentId}`): ChargeRequest => ({
  paymentId,
  customerId,
  amount: 1000,
  currency: "KRW",
  token,
});

describe("GuardedPaymentProvider (circuit breaker)", () => {
  it("passes answers through, declines included, and keeps the circuit closed on declines", async () => {
    const guarded = new GuardedPaymentProvider(new SimulatedPaymentProvider(), { volumeThreshold: 2 });
    expect(await guarded.charge(charge("a", "tok_ok"))).toMatchObject({ outcome: "succeeded" });
    for (let i = 0; i < 10; i += 1) expect(await guarded.charge(charge(`d-${i}`, "tok_declined"))).toMatchObject({ outcome: "declined" });
    expect(guarded.state).toBe("closed");
    expect(guarded.name).toBe("simulated");
  });

  it("turns a provider failure into PaymentProviderUnavailableError", async () => {
    const failing = new FlakyProvider();
    failing.healthy = false;
    const guarded = new GuardedPaymentProvider(failing, { volumeThreshold: 100 });
    const error = await guarded.charge(charge()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentProviderUnavailableError);
    expect((error as Error).message).toContain("ECONNREFUSED");
    expect(guarded.state).toBe("closed");
  });

  it("opens after repeated failures, then fails fast without calling the provider, and closes again after resetTimeout", async () => {
    const flaky = new FlakyProvider();
    flaky.healthy = false;
    const guarded = new GuardedPaymentProvider(flaky, { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: 300 });
    // An outage fails everyone: five customers' charges (the first two customers' failures do not
    // count, the next three do: 3 of 5 calls is past the 50% that opens it).
    for (let i = 0; i < 5; i += 1) await expect(guarded.charge(charge(`p-${i}`))).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
    expect(guarded.state).toBe("open");
    expect(flaky.calls).toBe(5);

    for (let i = 0; i < 5; i += 1) {
      const error = await guarded.charge(charge()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PaymentProviderUnavailableError);
      expect((error as Error).message).toContain("circuit is open");
      expect((error as PaymentProviderUnavailableError).retryAfterSeconds).toBe(1);
    }
    expect(flaky.calls).toBe(5); // failed fast

    flaky.healthy = true;
    await waitFor("the circuit to let a trial call through", () => guarded.state === "half-open", { timeoutMs: 10_000 });
    expect(await guarded.charge(charge())).toMatchObject({ outcome: "succeeded" });
    expect(guarded.state).toBe("closed");
    expect(flaky.calls).toBe(6);
  });

  it("does not open on one customer's failures, however many, and still answers that customer 'unavailable'", async () => {
    const flaky = new FlakyProvider();
    flaky.healthy = false;
    const guarded = new GuardedPaymentProvider(flaky, { volumeThreshold: 2, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 });
    for (let i = 0; i < 12; i += 1) {
      await expect(guarded.charge(charge(`p-${i}`, "tok_ok", "mallory"))).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
    }
    expect(guarded.state).toBe("closed");
    expect(flaky.calls).toBe(12); // each reached the provider: nothing failed fast
    // A second customer failing too is still not an outage.
    await expect(guarded.charge(charge("p-b", "tok_ok", "bob"))).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
    expect(guarded.state).toBe("closed");
    // An outage fails everyone: from the third customer on, failures count and the circuit opens
    // (later than without the attack: the filtered failures count as answers in the window).
    for (let i = 0; i < 30; i += 1) await guarded.charge(charge(`p-outage-${i}`, "tok_ok", `customer-${i}`)).catch(() => undefined);
    expect(guarded.state).toBe("open");
    expect(flaky.calls).toBeLessThan(13 + 30);
  });

  it("counts a provider slower than timeoutMs as a failure", async () => {
    const slow = new SimulatedPaymentProvider({ latencyMs: 500 });
    const guarded = new GuardedPaymentProvider(slow, { timeoutMs: 20, volumeThreshold: 100 });
    await expect(guarded.charge(charge())).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
  });

  it("guards refunds too, with their own circuit", async () => {
    const flaky = new FlakyProvider();
    flaky.healthy = false;
    const guarded = new GuardedPaymentProvider(flaky, { volumeThreshold: 2, resetTimeoutMs: 60_000 });
    const refund = { paymentId: "p", refundId: "r", amount: 1, currency: "KRW" };
    for (let i = 0; i < 2; i += 1) await expect(guarded.refund(refund)).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
    await expect(guarded.refund(refund)).rejects.toBeInstanceOf(PaymentProviderUnavailableError);
    expect(flaky.calls).toBe(2);
    flaky.healthy = true;
    expect(guarded.state).toBe("closed"); // `state` reports the charge circuit, which never failed
    expect(await guarded.charge(charge())).toMatchObject({ outcome: "succeeded" });
  });
});
