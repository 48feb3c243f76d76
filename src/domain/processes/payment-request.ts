import type { PaymentCommand } from "../payment/index.js";
import type { Reservation } from "../reservation/index.js";

/**
 * The payment a reservation asks for. Both the placement (so that payments are accepted while the
 * workers are down) and the saga (for a placement that died before it) send it; the payment's
 * decider makes the second one a no-op.
 */
export const requestPaymentFor = (reservation: Reservation, now: string): PaymentCommand => ({
  type: "RequestPayment",
  data: {
    paymentId: reservation.paymentId,
    reservationId: reservation.reservationId,
    customerId: reservation.customerId,
    amount: reservation.amount,
    currency: reservation.currency,
    now,
  },
});
