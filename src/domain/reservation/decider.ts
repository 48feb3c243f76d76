import { match } from "ts-pattern";
import type { Decider } from "../decider.js";
import {
  CancelNotAllowedError,
  InvalidCommandError,
  InvalidTransitionError,
  NotFoundError,
  NotNextStepError,
  NotYetExpiredError,
} from "../errors.js";
import { requireInteger, requireText } from "../guards.js";
import { addSeconds, instant } from "../time.js";
import type { ReservationCommand, ReservationCommandOf } from "./commands.js";
import type { CancellableStatus, ReservationEvent, ReservationStatus } from "./events.js";
import { CANCELLABLE, initialReservationState, isPlaced, type Reservation, type ReservationState } from "./state.js";

function placed(state: ReservationState): Reservation {
  if (!isPlaced(state)) throw new NotFoundError("reservation");
  return state;
}

function refuse(r: Reservation, command: string, reason?: string): never {
  throw new InvalidTransitionError("reservation", r.status, command, reason);
}

export function decideReservation(command: ReservationCommand, state: ReservationState): ReservationEvent[] {
  return match(command)
    .returnType<ReservationEvent[]>()
    .with({ type: "PlaceReservation" }, (c) => placeReservation(c, state))
    .with({ type: "SettleReservationPayment" }, (c) => settleReservationPayment(c, state))
    .with({ type: "AcceptReservation" }, (c) => acceptReservation(c, state))
    .with({ type: "RejectReservation" }, (c) => rejectReservation(c, state))
    .with({ type: "ProgressReservation" }, (c) => progressReservation(c, state))
    .with({ type: "StartRental" }, (c) => startRental(c, state))
    .with({ type: "ReturnRental" }, (c) => returnRental(c, state))
    .with({ type: "CancelReservation" }, (c) => cancelReservation(c, state))
    .with({ type: "AbandonReservation" }, (c) => abandonReservation(c, state))
    .with({ type: "ExpireReservation" }, (c) => expireReservation(c, state))
    .exhaustive();
}

export function placeReservation({ data }: ReservationCommandOf<"PlaceReservation">, state: ReservationState): ReservationEvent[] {
  // Ids come from the server, so an existing reservation here is a retried command.
  if (isPlaced(state)) return [];
  if (state.status === "abandoned") {
    throw new InvalidTransitionError("reservation", "abandoned", "PlaceReservation", "its hold was released");
  }
  requireInteger("quantity", data.quantity, 1, 10_000);
  requireInteger("unitPrice", data.unitPrice, 0);
  requireInteger("holdTtlSeconds", data.holdTtlSeconds, 1);
  requireText("productName", data.productName, 200);
  if (!/^[A-Z]{3}$/.test(data.currency)) throw new InvalidCommandError("currency", "must be an ISO 4217 code");
  return [
    {
      type: "ReservationPlaced",
      data: {
        reservationId: data.reservationId,
        productId: data.productId,
        productName: data.productName,
        customerId: data.customerId,
        sellerId: data.sellerId,
        quantity: data.quantity,
        unitPrice: data.unitPrice,
        amount: data.quantity * data.unitPrice,
        currency: data.currency,
        kind: data.kind,
        sellerAcceptance: data.sellerAcceptance,
        fulfilmentSteps: [...data.fulfilmentSteps],
        placedAt: data.now,
        expiresAt: addSeconds("now", data.now, data.holdTtlSeconds),
        paymentTokenProvided: data.paymentTokenProvided ?? false,
      },
    },
  ];
}

export function settleReservationPayment(
  { data }: ReservationCommandOf<"SettleReservationPayment">,
  state: ReservationState,
): ReservationEvent[] {
  const r = placed(state);
  if (r.paymentSettled) return [];
  // A payment that lands after the reservation ended must be refunded by the saga:
  // refusing (rather than ignoring) is what tells it so.
  if (r.status !== "placed") refuse(r, "settle the payment of", "the reservation ended before it was paid");
  return [
    {
      type: "ReservationPaymentSettled",
      data: {
        paymentId: r.paymentId,
        settledAt: data.now,
        status: r.sellerAcceptance ? "awaiting-acceptance" : "confirmed",
      },
    },
  ];
}

export function acceptReservation({ data }: ReservationCommandOf<"AcceptReservation">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  if (r.status !== "awaiting-acceptance") refuse(r, "accept");
  return [{ type: "ReservationAccepted", data: { acceptedAt: data.now } }];
}

export function rejectReservation({ data }: ReservationCommandOf<"RejectReservation">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  if (r.status !== "awaiting-acceptance") refuse(r, "reject");
  return [
    {
      type: "ReservationRejected",
      data: data.reason === undefined ? { rejectedAt: data.now } : { rejectedAt: data.now, reason: data.reason },
    },
  ];
}

export function progressReservation({ data }: ReservationCommandOf<"ProgressReservation">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  // Re-sending the step just completed is a retry, not an error.
  if (r.currentStep !== null && data.step === r.currentStep) return [];
  if (r.kind === "rental") refuse(r, "progress", "rentals are started and returned");
  if (r.status !== "confirmed" && r.status !== "in-progress") refuse(r, "progress");
  const stepIndex = r.currentStep === null ? 0 : r.fulfilmentSteps.indexOf(r.currentStep) + 1;
  const expected = r.fulfilmentSteps[stepIndex] ?? null;
  if (data.step !== expected) throw new NotNextStepError(data.step, expected);
  const progressed: ReservationEvent = {
    type: "ReservationProgressed",
    data: { step: data.step, stepIndex, progressedAt: data.now },
  };
  return stepIndex === r.fulfilmentSteps.length - 1
    ? [progressed, { type: "ReservationCompleted", data: { completedAt: data.now } }]
    : [progressed];
}

export function startRental({ data }: ReservationCommandOf<"StartRental">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  if (r.kind !== "rental") refuse(r, "start", "not a rental");
  if (r.status === "in-use") return [];
  if (r.status !== "confirmed") refuse(r, "start", "a rental starts once confirmed");
  return [{ type: "RentalStarted", data: { startedAt: data.now } }];
}

export function returnRental({ data }: ReservationCommandOf<"ReturnRental">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  if (r.kind !== "rental") refuse(r, "return", "not a rental");
  if (r.status === "completed") return [];
  if (r.status !== "in-use") refuse(r, "return", "only a rental in use can be returned");
  return [
    { type: "RentalReturned", data: { returnedAt: data.now } },
    { type: "ReservationCompleted", data: { completedAt: data.now } },
  ];
}

export function cancelReservation({ data }: ReservationCommandOf<"CancelReservation">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  if (r.status === "cancelled") return [];
  if (!isCancellable(r.status)) throw new CancelNotAllowedError(r.status);
  return [
    {
      type: "ReservationCancelled",
      data: {
        cancelledAt: data.now,
        cancelledBy: { id: data.by.id, role: data.by.role },
        ...(data.reason === undefined ? {} : { reason: data.reason }),
        previousStatus: r.status,
        paymentSettled: r.paymentSettled,
      },
    },
  ];
}

export function abandonReservation({ data }: ReservationCommandOf<"AbandonReservation">, state: ReservationState): ReservationEvent[] {
  // Only a stream that was never placed can be abandoned; otherwise the placement won the race.
  if (state.status !== "none") return [];
  instant("now", data.now);
  return [
    {
      type: "ReservationAbandoned",
      data: { reservationId: data.reservationId, productId: data.productId, abandonedAt: data.now },
    },
  ];
}

export function expireReservation({ data }: ReservationCommandOf<"ExpireReservation">, state: ReservationState): ReservationEvent[] {
  const r = placed(state);
  // The saga's timer fires whatever happened meanwhile: anything but `placed` has moved on.
  if (r.status !== "placed") return [];
  if (instant("now", data.now) < instant("expiresAt", r.expiresAt)) {
    throw new NotYetExpiredError(r.expiresAt, data.now);
  }
  return [{ type: "ReservationExpired", data: { expiredAt: data.now } }];
}

function isCancellable(status: ReservationStatus): status is CancellableStatus {
  return CANCELLABLE.has(status);
}

function moved(r: Reservation, status: ReservationStatus, at: string, changes: Partial<Reservation> = {}): Reservation {
  return { ...r, ...changes, status, updatedAt: at };
}

export function evolveReservation(state: ReservationState, event: ReservationEvent): ReservationState {
  if (state.status === "abandoned") return state;
  if (!isPlaced(state)) {
    if (event.type === "ReservationAbandoned") {
      const { reservationId, productId, abandonedAt } = event.data;
      return { status: "abandoned", reservationId, productId, abandonedAt };
    }
    if (event.type !== "ReservationPlaced") return state;
    const d = event.data;
    return {
      status: "placed",
      reservationId: d.reservationId,
      paymentId: d.reservationId,
      productId: d.productId,
      productName: d.productName,
      customerId: d.customerId,
      sellerId: d.sellerId,
      quantity: d.quantity,
      unitPrice: d.unitPrice,
      amount: d.amount,
      currency: d.currency,
      kind: d.kind,
      sellerAcceptance: d.sellerAcceptance,
      fulfilmentSteps: d.fulfilmentSteps,
      paymentTokenProvided: d.paymentTokenProvided,
      paymentSettled: false,
      currentStep: null,
      expiresAt: d.expiresAt,
      createdAt: d.placedAt,
      updatedAt: d.placedAt,
    };
  }
  const r = state;
  return match(event)
    .returnType<ReservationState>()
    .with({ type: "ReservationPlaced" }, () => r)
    .with({ type: "ReservationPaymentSettled" }, ({ data }) => moved(r, data.status, data.settledAt, { paymentSettled: true }))
    .with({ type: "ReservationAccepted" }, ({ data }) => moved(r, "confirmed", data.acceptedAt))
    .with({ type: "ReservationRejected" }, ({ data }) => moved(r, "rejected", data.rejectedAt))
    .with({ type: "ReservationProgressed" }, ({ data }) => moved(r, "in-progress", data.progressedAt, { currentStep: data.step }))
    .with({ type: "RentalStarted" }, ({ data }) => moved(r, "in-use", data.startedAt))
    .with({ type: "RentalReturned" }, ({ data }) => moved(r, r.status, data.returnedAt))
    .with({ type: "ReservationCompleted" }, ({ data }) => moved(r, "completed", data.completedAt))
    .with({ type: "ReservationCancelled" }, ({ data }) => moved(r, "cancelled", data.cancelledAt))
    .with({ type: "ReservationExpired" }, ({ data }) => moved(r, "expired", data.expiredAt))
    .with({ type: "ReservationAbandoned" }, () => r)
    .exhaustive();
}

export const reservationDecider: Decider<ReservationCommand, ReservationEvent, ReservationState> = {
  initialState: initialReservationState,
  evolve: evolveReservation,
  decide: decideReservation,
};
