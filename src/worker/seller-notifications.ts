import type { Reservation, ReservationEvent } from "../domain/index.js";
import { formatAmount } from "./amount-format.js";
import type { NotificationContent } from "./notification-content.js";

const what = (reservation: Reservation): string => `${reservation.quantity} × ${reservation.productName}`;

const CANCELLED_WHILE: Readonly<Record<"placed" | "awaiting-acceptance" | "confirmed", string>> = {
  placed: "before it was paid",
  "awaiting-acceptance": "while it waited for your acceptance",
  confirmed: "after it was confirmed",
};

/**
 * Which reservation changes the product's seller is told about: a paid order that waits for their
 * acceptance (only `sellerAcceptance` products reach `awaiting-acceptance`, and only once paid), and
 * every cancellation of a reservation on their product, whoever cancelled it. What the seller does
 * themselves (accept, reject, progress) and what the customer alone must act on are not sent.
 */
export const sellerNotification = (event: ReservationEvent, reservation: Reservation): NotificationContent | undefined => {
  const item = what(reservation);
  switch (event.type) {
    case "ReservationPaymentSettled":
      if (event.data.status !== "awaiting-acceptance") return undefined;
      return {
        kind: "seller.reservation.awaiting-acceptance",
        message: `A new order of ${item} (${formatAmount(reservation.amount, reservation.currency)}) is paid and waits for your acceptance.`,
        createdAt: event.data.settledAt,
      };
    case "ReservationCancelled": {
      const role = event.data.cancelledBy.role;
      const by = role === "system" ? "the service" : `the ${role}`;
      return {
        kind: "seller.reservation.cancelled",
        message: `A reservation of ${item} was cancelled by ${by} ${CANCELLED_WHILE[event.data.previousStatus]}; its units are released.`,
        createdAt: event.data.cancelledAt,
      };
    }
    // Named one by one so that a new event type has to be decided here.
    case "ReservationPlaced":
    case "ReservationAccepted":
    case "ReservationRejected":
    case "ReservationProgressed":
    case "RentalStarted":
    case "RentalReturned":
    case "ReservationCompleted":
    case "ReservationExpired":
    case "ReservationAbandoned":
      return undefined;
  }
};
