import type { Allocation, ProductCommand, ReleaseReason } from "../product/index.js";
import type { Reservation, ReservationStatus } from "../reservation/index.js";
import { SETTLED } from "./reservation-statuses.js";

/** What a reservation's status asks of the units allocated to it on its product. */
export type AllocationFollowUp = { readonly type: "release"; readonly reason: ReleaseReason } | { readonly type: "commit" };

const releaseReasons = {
  placed: () => undefined,
  "awaiting-acceptance": () => undefined,
  confirmed: () => undefined,
  "in-progress": () => undefined,
  "in-use": () => undefined,
  // A rental gives its units back when it is returned; sold units stay sold.
  completed: (reservation) => (reservation.kind === "rental" ? "returned" : undefined),
  cancelled: () => "cancelled",
  expired: () => "expired",
  rejected: () => "rejected",
} as const satisfies Record<ReservationStatus, (reservation: Reservation) => ReleaseReason | undefined>;

const releaseReasonOf = (reservation: Reservation): ReleaseReason | undefined => releaseReasons[reservation.status](reservation);

/** False when the reservation's status asks nothing of its units whatever their stage (it is still `placed`): no need to look. */
export const mayNeedFollowUp = (reservation: Reservation): boolean =>
  releaseReasonOf(reservation) !== undefined || SETTLED.has(reservation.status);

/**
 * The one rule that brings a reservation's allocation in line with its status: shared by the saga,
 * which applies it on every event, and the hold watchdog, which applies it at the hold's deadline so
 * that no hold outlives its reservation even if the saga never got to it.
 */
export const allocationFollowUp = (reservation: Reservation, allocation: Allocation | undefined): AllocationFollowUp | undefined => {
  if (!allocation || allocation.stage === "released") return undefined;
  const reason = releaseReasonOf(reservation);
  if (reason !== undefined) return { type: "release", reason };
  if (allocation.stage === "held" && SETTLED.has(reservation.status)) return { type: "commit" };
  return undefined;
};

/** The product command that carries a follow-up out (idempotent in the product decider). */
export const followUpCommand = (reservationId: string, followUp: AllocationFollowUp, now: string): ProductCommand =>
  followUp.type === "release"
    ? { type: "ReleaseUnits", data: { reservationId, reason: followUp.reason, now } }
    : { type: "CommitHeldUnits", data: { reservationId, now } };
