import {
  type Payment,
  type Reservation,
  PaymentNotPayableError,
  TooManyPaymentAttemptsError,
  isPlaced,
  isRequested,
} from "../domain/index.js";
import { chargePayment, type PaymentRepository } from "../application/payment-service.js";
import type { PaymentProvider } from "../application/payment-provider.js";
import type { PaymentTokenStore } from "../application/payment-token-store.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import type { CommandMetadata } from "../core/repository.js";
import type { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import { deterministicEventId } from "../core/event-ids.js";
import type { Logger } from "../logger.js";

/** Longest wait between two automatic attempts while the provider is unavailable. */
export const MAX_RETRY_DELAY_SECONDS = 300;

/**
 * When to try a charge again after `failedInARow` provider failures: exponential backoff (2, 4, 8 …
 * capped at five minutes), never sooner than the provider's Retry-After, and never once the hold has
 * ended — its token is gone then and the reservation expires.
 */
export const nextChargeAttempt = (failedInARow: number, retryAfterSeconds: number, now: Date, holdEndsAt: Date): Date | undefined => {
  const backoff = Math.min(MAX_RETRY_DELAY_SECONDS, 2 ** Math.min(Math.max(failedInARow, 1), 16));
  const at = new Date(now.getTime() + Math.max(backoff, retryAfterSeconds) * 1000);
  return at < holdEndsAt ? at : undefined;
};

/** Provider failures since the last answer: declines reset the count (the provider was reachable). */
export const failuresInARow = (payment: Payment): number => {
  let count = 0;
  for (let i = payment.attempts.length - 1; i >= 0 && payment.attempts[i]?.outcome === "failed"; i -= 1) count += 1;
  return count;
};

export interface AutomaticChargeDependencies {
  readonly reservations: ReservationRepository;
  readonly payments: PaymentRepository;
  readonly provider: PaymentProvider;
  readonly paymentTokens: PaymentTokenStore;
  /** Retries of automatic charges; the member is the reservation id. */
  readonly retries: Pick<DeadlineSchedule, "add" | "complete">;
  readonly logger: Logger;
  readonly clock: () => Date;
}

const RETRY_ACTOR: CommandMetadata["actor"] = { id: "payment-retry", role: "system" };

/**
 * The charge of the token a customer gave with a reservation (the musical-seat flow). The token is
 * kept until the provider answers — charged or declined — or the hold ends; while the provider is
 * unavailable the charge is retried from a durable schedule with backoff, so an outage neither loses
 * the token nor lets the seat expire unpaid if the provider comes back in time.
 */
export class AutomaticCharge {
  constructor(private readonly deps: AutomaticChargeDependencies) {}

  /**
   * The first attempt, from the saga. Returns whether the provider was asked. A retry is scheduled
   * before the provider is called, so a process that dies mid-charge leaves the retry behind.
   */
  async first(reservation: Reservation, payment: Payment, attemptId: string, metadata: CommandMetadata): Promise<boolean> {
    const { reservationId } = reservation;
    const provisional = nextChargeAttempt(1, 0, this.deps.clock(), new Date(reservation.expiresAt));
    if (provisional) await this.deps.retries.add(reservationId, provisional);
    const outcome = await this.attempt(reservation, payment, attemptId, metadata);
    if (outcome instanceof Date) await this.deps.retries.add(reservationId, outcome);
    else await this.deps.retries.complete(reservationId);
    return outcome !== "no-token";
  }

  /** A scheduled retry: returns when to try again, or nothing when the charge is over either way. */
  async retry(reservationId: string): Promise<Date | undefined> {
    const { state: reservation } = await this.deps.reservations.load(reservationId);
    const { state: payment } = isPlaced(reservation) ? await this.deps.payments.load(reservation.paymentId) : { state: undefined };
    if (!isPlaced(reservation) || reservation.status !== "placed" || !payment || !isRequested(payment) || payment.status !== "pending") {
      // Paid by hand, cancelled, expired: the token has no use left.
      await this.deps.paymentTokens.discard(reservationId);
      return undefined;
    }
    const attemptNumber = payment.attempts.length;
    const metadata: CommandMetadata = {
      correlationId: reservationId,
      causationId: `charge-retry:${reservationId}:${attemptNumber}`,
      actor: RETRY_ACTOR,
    };
    const retryAt = await this.attempt(reservation, payment, deterministicEventId(reservationId, "charge-retry", attemptNumber), metadata);
    return retryAt instanceof Date ? retryAt : undefined;
  }

  private async attempt(
    reservation: Reservation,
    payment: Payment,
    attemptId: string,
    metadata: CommandMetadata,
  ): Promise<Date | "no-token" | undefined> {
    const { reservationId } = reservation;
    const token = await this.deps.paymentTokens.read(reservationId);
    if (token === undefined) return "no-token";
    const log = this.deps.logger.child({ reservationId });
    try {
      const result = await chargePayment(
        this.deps.payments,
        this.deps.provider,
        { paymentId: payment.paymentId, token, attemptId, now: this.deps.clock },
        metadata,
      );
      if (result.outcome === "unavailable") {
        const retryAt = nextChargeAttempt(
          failuresInARow(result.payment),
          result.retryAfterSeconds ?? 1,
          this.deps.clock(),
          new Date(reservation.expiresAt),
        );
        if (retryAt) {
          log.info(
            { retryAt: retryAt.toISOString(), reason: result.reason },
            "the payment provider is unavailable; the automatic charge will be retried",
          );
          return retryAt;
        }
        log.warn(
          { reason: result.reason },
          "the payment provider stayed unavailable until the hold's end; the automatic charge is given up",
        );
      } else {
        log.info({ outcome: result.outcome }, "charged the payment token given with the reservation");
      }
    } catch (error) {
      if (!(error instanceof PaymentNotPayableError) && !(error instanceof TooManyPaymentAttemptsError)) throw error;
      log.info({ reason: error.message }, "the automatic charge is over: the payment no longer takes attempts");
    }
    await this.deps.paymentTokens.discard(reservationId);
    return undefined;
  }
}
