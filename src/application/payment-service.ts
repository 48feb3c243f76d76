import { randomUUID } from "node:crypto";
import {
  type Payment,
  type PaymentCommand,
  type PaymentEvent,
  type PaymentState,
  PaymentNotPayableError,
  assertMayAttempt,
  isRequested,
} from "../domain/index.js";
import { decideUnrecordedCharge } from "../domain/processes/index.js";
import type { CommandMetadata, Repository } from "../core/repository.js";
import { deterministicEventId, idFromIdempotencyKey } from "../core/event-ids.js";
import { commandMetadata } from "./command-context.js";
import { AccessDeniedError, IdempotencyKeyReusedError, PaymentDeclinedError, ResourceNotFoundError } from "./errors.js";
import type { PaymentKeyRecords } from "./idempotency-records.js";
import { PaymentProviderUnavailableError } from "../core/errors.js";
import type { PaymentProvider } from "./payment-provider.js";
import type { Actor, CommandContext, PaymentService, PaymentView } from "./ports.js";

export type PaymentRepository = Repository<PaymentCommand, PaymentEvent, PaymentState>;

export const paymentView = (payment: Payment, revision: number): PaymentView => ({
  id: payment.paymentId,
  reservationId: payment.reservationId,
  customerId: payment.customerId,
  amount: payment.amount,
  currency: payment.currency,
  status: payment.status,
  attempts: payment.attempts.map(({ at, outcome, reason }) => (reason === undefined ? { at, outcome } : { at, outcome, reason })),
  updatedAt: payment.updatedAt,
  revision,
});

export interface ChargeOutcome {
  readonly payment: Payment;
  readonly revision: number;
  readonly outcome: "paid" | "declined" | "unavailable";
  readonly reason?: string;
  readonly retryAfterSeconds?: number;
}

/**
 * One charge of a pending payment: call the provider, then record what it said as an attempt.
 * Shared by `POST /payments/{id}/pay` and the saga's automatic charge. The provider is idempotent
 * on the payment id, so two concurrent attempts can never charge twice, and the decider records
 * at most one success.
 */
export const chargePayment = async (
  payments: PaymentRepository,
  provider: PaymentProvider,
  request: { readonly paymentId: string; readonly token: string; readonly attemptId: string; readonly now: () => Date },
  metadata: CommandMetadata,
): Promise<ChargeOutcome> => {
  const { state, revision } = await payments.load(request.paymentId);
  if (!isRequested(state)) throw new ResourceNotFoundError("payment", request.paymentId);
  if (state.status === "voided" || state.status === "refunded") throw new PaymentNotPayableError(state.status);
  if (state.status === "paid") return { payment: state, revision, outcome: "paid" };
  assertMayAttempt(state);

  let verdict: { outcome: "succeeded"; reference: string } | { outcome: "declined" | "failed"; reason: string; retryAfterSeconds?: number };
  try {
    const result = await provider.charge({
      paymentId: state.paymentId,
      customerId: state.customerId,
      amount: state.amount,
      currency: state.currency,
      token: request.token,
    });
    verdict = result.outcome === "succeeded" ? result : { outcome: "declined", reason: result.reason };
  } catch (error) {
    if (!(error instanceof PaymentProviderUnavailableError)) throw error;
    verdict = { outcome: "failed", reason: error.message, retryAfterSeconds: error.retryAfterSeconds };
  }
  const record = (): ReturnType<PaymentRepository["handle"]> =>
    payments.handle(
      request.paymentId,
      () => ({
        type: "RecordPaymentAttempt",
        data: {
          attemptId: request.attemptId,
          outcome: verdict.outcome,
          provider: provider.name,
          at: request.now().toISOString(),
          ...(verdict.outcome === "succeeded" ? { providerReference: verdict.reference } : { reason: verdict.reason }),
        },
      }),
      metadata,
    );
  let recorded: Awaited<ReturnType<typeof record>>;
  try {
    recorded = await record();
  } catch (error) {
    const unrecorded = {
      attemptId: request.attemptId,
      outcome: verdict.outcome,
      paymentNotPayable: error instanceof PaymentNotPayableError,
    };
    const refund = decideUnrecordedCharge(state, unrecorded);
    if (refund?.atProvider) {
      await provider.refund({
        paymentId: refund.paymentId,
        refundId: deterministicEventId(refund.paymentId, refund.refundOf, 0),
        ...refund.atProvider,
      });
    }
    throw error;
  }
  if (!isRequested(recorded.state)) throw new ResourceNotFoundError("payment", request.paymentId);
  const base = { payment: recorded.state, revision: recorded.revision };
  if (recorded.state.status === "paid") return { ...base, outcome: "paid" };
  if (verdict.outcome === "failed") {
    return { ...base, outcome: "unavailable", reason: verdict.reason, retryAfterSeconds: verdict.retryAfterSeconds ?? 1 };
  }
  return { ...base, outcome: "declined", reason: verdict.outcome === "declined" ? verdict.reason : "declined" };
};

export const createPaymentService = (
  payments: PaymentRepository,
  provider: PaymentProvider,
  clock: () => Date = () => new Date(),
  keyRecords?: PaymentKeyRecords,
): PaymentService => {
  const loadOwned = async (actor: Actor, paymentId: string): Promise<{ payment: Payment; revision: number }> => {
    const { state, revision } = await payments.load(paymentId);
    if (!isRequested(state)) throw new ResourceNotFoundError("payment", paymentId);
    if (actor.role !== "admin" && !(actor.role === "customer" && state.customerId === actor.id)) {
      throw new AccessDeniedError("only the payment's customer or an admin may see it");
    }
    return { payment: state, revision };
  };

  return {
    get: async (actor, paymentId) => {
      const { payment, revision } = await loadOwned(actor, paymentId);
      return paymentView(payment, revision);
    },

    pay: async (context: CommandContext, paymentId: string, token: string, idempotencyKey?: string) => {
      if (context.actor.role !== "customer") throw new AccessDeniedError("only the payment's customer may pay it");
      const { payment, revision } = await loadOwned(context.actor, paymentId);
      if (payment.status === "paid") return paymentView(payment, revision);
      let attemptId: string = randomUUID();
      if (idempotencyKey !== undefined) {
        const base = idFromIdempotencyKey(context.actor.id, `pay\n${paymentId}\n${idempotencyKey}`);
        if (keyRecords) {
          const fingerprint = keyRecords.fingerprint(token);
          const first = await keyRecords.records.remember(`pay:${base}`, fingerprint);
          if (first !== undefined && first !== fingerprint) throw new IdempotencyKeyReusedError(paymentId, "payment");
        }
        const earlier = payment.attempts.filter((attempt) => attempt.attemptId === base || attempt.attemptId.startsWith(`${base}:`));
        const answered = earlier.find((attempt) => attempt.outcome !== "failed");
        // The same key again: answer what the provider answered the first time, without calling it again.
        if (answered?.outcome === "declined") throw new PaymentDeclinedError(answered.reason ?? "declined", paymentView(payment, revision));
        if (answered) return paymentView(payment, revision);
        // Only provider failures so far: the key may try again, as the 503's Retry-After invited.
        attemptId = earlier.length === 0 ? base : `${base}:${earlier.length}`;
      }
      const result = await chargePayment(
        payments,
        provider,
        { paymentId, token, attemptId, now: clock },
        commandMetadata(context, paymentId),
      );
      const view = paymentView(result.payment, result.revision);
      if (result.outcome === "declined") throw new PaymentDeclinedError(result.reason ?? "declined", view);
      if (result.outcome === "unavailable") {
        throw new PaymentProviderUnavailableError(result.reason ?? "the payment provider is unavailable", result.retryAfterSeconds ?? 1);
      }
      return view;
    },
  };
};
