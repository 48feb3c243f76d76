import type { Actor, ProductKind } from "../events.js";

/** `now` is the ISO time of the command; the domain never reads the clock. */
export type ReservationCommand =
  | {
      type: "PlaceReservation";
      data: {
        reservationId: string;
        productId: string;
        productName: string;
        customerId: string;
        sellerId: string;
        quantity: number;
        unitPrice: number;
        currency: string;
        kind: ProductKind;
        sellerAcceptance: boolean;
        fulfilmentSteps: readonly string[];
        holdTtlSeconds: number;
        paymentTokenProvided?: boolean;
        now: string;
      };
    }
  | { type: "SettleReservationPayment"; data: { now: string } }
  | { type: "AcceptReservation"; data: { now: string } }
  | { type: "RejectReservation"; data: { reason?: string; now: string } }
  | { type: "ProgressReservation"; data: { step: string; now: string } }
  | { type: "StartRental"; data: { now: string } }
  | { type: "ReturnRental"; data: { now: string } }
  | { type: "CancelReservation"; data: { by: Actor; reason?: string; now: string } }
  | { type: "ExpireReservation"; data: { now: string } }
  /** Closes a reservation stream whose placement never completed (its hold was orphaned). */
  | { type: "AbandonReservation"; data: { reservationId: string; productId: string; now: string } };

export type ReservationCommandType = ReservationCommand["type"];
export type ReservationCommandOf<T extends ReservationCommandType> = Extract<ReservationCommand, { type: T }>;
