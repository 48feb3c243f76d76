import { z } from "zod";

export const attemptOutcome = z.enum(["succeeded", "declined", "failed"]);
export type AttemptOutcome = z.output<typeof attemptOutcome>;

/** `now` / `at` are ISO times carried by the command; the domain never reads the clock. */
export type PaymentCommand =
  | {
      type: "RequestPayment";
      data: {
        paymentId: string;
        reservationId: string;
        customerId: string;
        amount: number;
        currency: string;
        now: string;
      };
    }
  | {
      /** The outcome of one call to the provider, made by the application before deciding. */
      type: "RecordPaymentAttempt";
      data: {
        attemptId: string;
        outcome: AttemptOutcome;
        provider: string;
        reason?: string;
        providerReference?: string;
        at: string;
      };
    }
  | { type: "VoidPayment"; data: { reason: string; now: string } }
  | { type: "RefundPayment"; data: { refundId: string; reason: string; now: string } };

export type PaymentCommandType = PaymentCommand["type"];
export type PaymentCommandOf<T extends PaymentCommandType> = Extract<PaymentCommand, { type: T }>;
