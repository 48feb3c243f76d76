import type { ProductKind } from "../events.js";
import { cancellableStatus, type ReservationStatus } from "./events.js";

export interface UnplacedReservation {
  readonly status: "none";
}

export interface Reservation {
  readonly status: ReservationStatus;
  readonly reservationId: string;
  /** A payment's id is its reservation's id. */
  readonly paymentId: string;
  readonly productId: string;
  readonly productName: string;
  readonly customerId: string;
  readonly sellerId: string;
  readonly quantity: number;
  readonly unitPrice: number;
  readonly amount: number;
  readonly currency: string;
  readonly kind: ProductKind;
  readonly sellerAcceptance: boolean;
  readonly fulfilmentSteps: readonly string[];
  readonly paymentTokenProvided: boolean;
  readonly paymentSettled: boolean;
  /** The last completed fulfilment step, null before the first. */
  readonly currentStep: string | null;
  readonly expiresAt: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A placement that never completed; it reads as "not found" and can never be placed. */
export interface AbandonedReservation {
  readonly status: "abandoned";
  readonly reservationId: string;
  readonly productId: string;
  readonly abandonedAt: string;
}

export type ReservationState = UnplacedReservation | AbandonedReservation | Reservation;

export const initialReservationState: ReservationState = { status: "none" };

export function isPlaced(state: ReservationState): state is Reservation {
  return state.status !== "none" && state.status !== "abandoned";
}

export const CANCELLABLE: ReadonlySet<ReservationStatus> = new Set(cancellableStatus.options);
