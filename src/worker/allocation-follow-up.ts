import type { Allocation, ProductCommand, Reservation, ReservationStatus } from "../domain/index.js";
import type { ReleaseReason } from "../domain/product/events.js";

/** What a reservation's status asks of the units allocated to it on its product. */
export type AllocationFollowUp = { readonly type: "release"; readonly reason: ReleaseReason } | { readonly type: "commit" };

/** Statuses in which the reservation no longer wants its units or its money. */
export const ENDED: ReadonlySet<ReservationStatus> = new Set(["cancelled", "expired", "rejected"]);
/** Statuses in which the units are the customer's: paid and not given back. */
export const SETTLED: ReadonlySet<ReservationStatus> = new Set(["awaiting-acceptance", "confirmed", "in-progress", "in-use", "completed"]);

const releaseReasonOf = (reservation: Reservation): ReleaseReason | undefined => {
  switch (reservation.status) {
    case "cancelled":
      return "cancelled";
    case "expired":
      return "expired";
    case "rejected":
      return "rejected";
    case "completed":
      // A rental gives its units back when it is returned; sold units stay sold.
      return reservation.kind === "rental" ? "returned" : undefined;
    default:
      return undefined;
  }
};

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
