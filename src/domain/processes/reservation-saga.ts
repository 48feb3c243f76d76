import type { Payment, PaymentCommand, PaymentState, PaymentStatus } from "../payment/index.js";
import { isRequested } from "../payment/index.js";
import type { Allocation, ProductCommand } from "../product/index.js";
import type { Reservation, ReservationCommand, ReservationEvent } from "../reservation/index.js";
import { allocationFollowUp, followUpCommand, mayNeedFollowUp } from "./allocation-follow-up.js";
import { requestPaymentFor } from "./payment-request.js";
import { ENDED } from "./reservation-statuses.js";

/**
 * Where the saga is within one round (one event handled). A round does not decide everything at
 * once: requesting the payment, charging a token and settling change what the later steps look at,
 * so the runner carries those out, puts what they changed into the picture and asks again.
 */
export type SagaStage = "start" | "token" | "settlement" | "units";

/** The reservation's units on its product; the product is read only when a decision needs it. */
export type UnitsSeen = { readonly read: false } | { readonly read: true; readonly allocation: Allocation | undefined };

export interface SagaPicture {
  readonly stage: SagaStage;
  /** The type of the event being handled, from the reservation's or the payment's stream. */
  readonly trigger: string;
  readonly reservation: Reservation;
  readonly payment: PaymentState;
  readonly units: UnitsSeen;
  /** The time the commands carry; the saga never reads the clock itself. */
  readonly now: string;
}

/** Give money back; its id is derived from the payment and `refundOf`, so the provider never refunds twice. */
export interface SagaRefund {
  readonly type: "refund";
  readonly paymentId: string;
  readonly refundOf: string;
  /** Absent when nothing was charged, so there is nothing to give back through the provider. */
  readonly atProvider?: { readonly amount: number; readonly currency: string };
  /** Absent when the payment cannot record it (it was voided while the provider charged). */
  readonly record?: { readonly reason: string; readonly now: string };
}

export type SagaAction =
  | { readonly type: "send"; readonly to: "reservation"; readonly id: string; readonly command: ReservationCommand }
  | { readonly type: "send"; readonly to: "payment"; readonly id: string; readonly command: PaymentCommand }
  | { readonly type: "send"; readonly to: "product"; readonly id: string; readonly command: ProductCommand }
  | SagaRefund
  /** The one automatic attempt of the token given with the reservation that is the saga's (later ones are the retry schedule's). */
  | { readonly type: "charge-token"; readonly reservationId: string }
  | { readonly type: "discard-token"; readonly reservationId: string }
  /** The customer's cap on unpaid holds: a reservation paid or ended stops counting. */
  | { readonly type: "release-unpaid-hold"; readonly customerId: string; readonly reservationId: string }
  | { readonly type: "read-units"; readonly productId: string; readonly reservationId: string };

export interface SagaDecision {
  readonly actions: readonly SagaAction[];
  /** Decide again at this stage once the actions are carried out; absent: the round is over. */
  readonly next?: SagaStage;
}

/** The id part every saga refund of a payment shares: one refund per payment. */
const SAGA_REFUND = "refund";

const done = (actions: readonly SagaAction[] = []): SagaDecision => ({ actions });
const before = (actions: readonly SagaAction[], decision: SagaDecision): SagaDecision =>
  actions.length === 0 ? decision : { ...decision, actions: [...actions, ...decision.actions] };

const requestedPayment = (picture: SagaPicture): Payment => {
  if (!isRequested(picture.payment)) throw new Error(`payment ${picture.reservation.paymentId} was not requested`);
  return picture.payment;
};

/** Reading the units is always the first action of its stage, so deciding that stage again repeats nothing. */
const readUnits = (picture: SagaPicture, stage: SagaStage): SagaDecision => ({
  actions: [{ type: "read-units", productId: picture.reservation.productId, reservationId: picture.reservation.reservationId }],
  next: stage,
});

const unitsFollowUp = (reservation: Reservation, allocation: Allocation | undefined, now: string): SagaAction[] => {
  const followUp = allocationFollowUp(reservation, allocation);
  if (followUp === undefined) return [];
  return [{ type: "send", to: "product", id: reservation.productId, command: followUpCommand(reservation.reservationId, followUp, now) }];
};

type Compensation = (payment: Payment, reason: string, now: string) => SagaAction[];

/** What an ended reservation does with its payment, for every status the payment can be in. */
const compensations = {
  pending: (payment, reason, now) => [
    { type: "send", to: "payment", id: payment.paymentId, command: { type: "VoidPayment", data: { reason, now } } },
  ],
  paid: (payment, reason, now) => [
    {
      type: "refund",
      paymentId: payment.paymentId,
      refundOf: SAGA_REFUND,
      ...(payment.amount > 0 ? { atProvider: { amount: payment.amount, currency: payment.currency } } : {}),
      record: { reason, now },
    },
  ],
  voided: () => [],
  refunded: () => [],
} as const satisfies Record<PaymentStatus, Compensation>;

const start = (picture: SagaPicture): SagaDecision => {
  const { reservation } = picture;
  const release: SagaAction[] =
    reservation.status === "placed"
      ? []
      : [{ type: "release-unpaid-hold", customerId: reservation.customerId, reservationId: reservation.reservationId }];
  if (isRequested(picture.payment)) return before(release, token(picture));
  const request: SagaAction = {
    type: "send",
    to: "payment",
    id: reservation.paymentId,
    command: requestPaymentFor(reservation, picture.now),
  };
  return { actions: [...release, request], next: "token" };
};

/**
 * The musical-seat flow: a reservation placed with a token is charged right away. Only on the
 * placement, and only while nothing was attempted, so a redelivered event never charges twice.
 */
const token = (picture: SagaPicture): SagaDecision => {
  const { reservation } = picture;
  const payment = requestedPayment(picture);
  // An ended reservation forgets its token in the settlement.
  const placement = picture.trigger === ("ReservationPlaced" satisfies ReservationEvent["type"]);
  if (!placement || !reservation.paymentTokenProvided || ENDED.has(reservation.status)) return settlement(picture);
  if (payment.status !== "pending" || reservation.status !== "placed") {
    return before([{ type: "discard-token", reservationId: reservation.reservationId }], settlement(picture));
  }
  if (payment.attempts.length > 0) return settlement(picture);
  return { actions: [{ type: "charge-token", reservationId: reservation.reservationId }], next: "settlement" };
};

const settlement = (picture: SagaPicture): SagaDecision => {
  const { reservation, now } = picture;
  const payment = requestedPayment(picture);
  if (!ENDED.has(reservation.status)) {
    if (reservation.status === "placed" && payment.status === "paid") {
      // Settling moves the reservation on (to confirmed): the units follow its new status.
      return {
        actions: [
          { type: "send", to: "reservation", id: reservation.reservationId, command: { type: "SettleReservationPayment", data: { now } } },
        ],
        next: "units",
      };
    }
    return units(picture);
  }
  if (!picture.units.read) return readUnits(picture, "settlement");
  return done([
    ...(reservation.paymentTokenProvided ? [{ type: "discard-token", reservationId: reservation.reservationId } as const] : []),
    // Units first: giving them back must not wait for a refund while the provider is down.
    ...unitsFollowUp(reservation, picture.units.allocation, now),
    ...compensations[payment.status](payment, `reservation ${reservation.status}`, now),
  ]);
};

const units = (picture: SagaPicture): SagaDecision => {
  if (!mayNeedFollowUp(picture.reservation)) return done();
  if (!picture.units.read) return readUnits(picture, "units");
  return done(unitsFollowUp(picture.reservation, picture.units.allocation, picture.now));
};

const stages = { start, token, settlement, units } as const satisfies Record<SagaStage, (picture: SagaPicture) => SagaDecision>;

/**
 * The reservation saga (process manager), without I/O. Rather than mapping each event to one
 * reaction, it reconciles: whatever event of a reservation or its payment arrives, it looks at the
 * reservation, its payment and its units on the product, and asks for what brings them in line —
 * request the payment, charge a token, settle the reservation once paid, commit or release the
 * units, void or refund the payment. That makes it indifferent to delivery order and to redelivery,
 * as long as every command is idempotent in the domain and every id is derived from its cause.
 */
export const decideReservationSaga = (picture: SagaPicture): SagaDecision => stages[picture.stage](picture);

/**
 * A charge the provider made, but that the payment refused to record because it was voided or
 * refunded meanwhile: the money must go back (one refund per attempt), and only at the provider.
 */
export const decideUnrecordedCharge = (
  payment: Payment,
  attempt: { readonly attemptId: string; readonly outcome: "succeeded" | "declined" | "failed"; readonly paymentNotPayable: boolean },
): SagaRefund | undefined =>
  attempt.outcome === "succeeded" && attempt.paymentNotPayable
    ? {
        type: "refund",
        paymentId: payment.paymentId,
        refundOf: `refund-late-charge:${attempt.attemptId}`,
        atProvider: { amount: payment.amount, currency: payment.currency },
      }
    : undefined;
