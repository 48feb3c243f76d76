import { z } from "zod";
import type { AttemptOutcome } from "./commands.js";

export const paymentStatus = z.enum(["pending", "paid", "voided", "refunded"]);
export type PaymentStatus = z.output<typeof paymentStatus>;

export interface PaymentAttempt {
  readonly attemptId: string;
  readonly at: string;
  readonly outcome: AttemptOutcome;
  readonly provider: string;
  readonly reason?: string;
}

export interface Refund {
  readonly refundId: string;
  readonly amount: number;
  readonly at: string;
  readonly reason: string;
}

export interface UnrequestedPayment {
  readonly status: "none";
}

export interface Payment {
  readonly status: PaymentStatus;
  readonly paymentId: string;
  readonly reservationId: string;
  readonly customerId: string;
  readonly amount: number;
  readonly currency: string;
  readonly attempts: readonly PaymentAttempt[];
  readonly refund: Refund | null;
  readonly requestedAt: string;
  readonly updatedAt: string;
}

export type PaymentState = UnrequestedPayment | Payment;

export const initialPaymentState: PaymentState = { status: "none" };

export function isRequested(state: PaymentState): state is Payment {
  return state.status !== "none";
}
