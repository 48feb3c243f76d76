import {
  type Payment,
  type Reservation,
  InvalidTransitionError,
  isPlaced,
  isRequested,
} from "../domain/index.js";
import { paymentAggregate, reservationAggregate } from "../application/aggregates.js";
import type { PaymentRepository } from "../application/payment-service.js";
import type { PaymentTokenStore } from "../application/payment-token-store.js";
import type { UnpaidHolds } from "../application/unpaid-holds.js";
import type { PaymentProvider } from "../application/payment-provider.js";
import { PaymentProviderUnavailableError, TransientError } from "../core/errors.js";
import type { ProductRepository } from "../application/product-service.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import type { CommandMetadata } from "../core/repository.js";
import { deterministicEventId } from "../core/event-ids.js";
import { streamPrefixOf } from "../core/streams.js";
import type { Logger } from "../logger.js";
import { ENDED } from "./allocation-follow-up.js";
import { AutomaticCharge, type AutomaticChargeDependencies } from "./automatic-charge.js";
import { reconcileAllocation } from "./reconcile-allocation.js";
import type { ConsumedEvent, Consumer } from "../infrastructure/eventstore/consumer-group.js";

export interface ReservationSagaDependencies {
  readonly products: ProductRepository;
  readonly reservations: ReservationRepository;
  readonly payments: PaymentRepository;
  readonly provider: PaymentProvider;
  readonly paymentTokens: PaymentTokenStore;
  /** The cap on unpaid holds per customer: a reservation paid or ended stops counting. */
  readonly unpaidHolds?: Pick<UnpaidHolds, "release">;
  /** Where automatic charges that met an unavailable provider wait for their next attempt. */
  readonly chargeRetries: AutomaticChargeDependencies["retries"];
  readonly logger: Logger;
  readonly clock?: () => Date;
}

const SAGA_ACTOR: CommandMetadata["actor"] = { id: "reservation-saga", role: "system" };

const reservationIdOf = (streamId: string): string | undefined => {
  const dash = streamId.indexOf("-");
  return dash < 0 ? undefined : streamId.slice(dash + 1);
};

/**
 * The reservation saga (process manager). Rather than mapping each event to one reaction, it
 * reconciles: whatever event of a reservation or its payment arrives, it looks at the current state
 * of the reservation, its payment and the product's allocation, and issues the commands that bring
 * them in line — request the payment, settle the reservation once paid, commit or release the
 * units, void or refund the payment. That makes it indifferent to delivery order and to
 * redelivery: every command is idempotent in the domain, and event ids are derived from the event
 * that caused them.
 */
export const reservationSaga = (deps: ReservationSagaDependencies): Consumer => {
  const clock = deps.clock ?? (() => new Date());
  const now = (): string => clock().toISOString();
  const automaticCharge = new AutomaticCharge({ ...deps, retries: deps.chargeRetries, clock });

  const requestPayment = async (reservation: Reservation, metadata: CommandMetadata): Promise<Payment> => {
    const handled = await deps.payments.handle(
      reservation.paymentId,
      () => ({
        type: "RequestPayment",
        data: {
          paymentId: reservation.paymentId,
          reservationId: reservation.reservationId,
          customerId: reservation.customerId,
          amount: reservation.amount,
          currency: reservation.currency,
          now: now(),
        },
      }),
      metadata,
    );
    if (!isRequested(handled.state)) throw new Error(`payment ${reservation.paymentId} was not requested`);
    return handled.state;
  };

  /**
   * The musical-seat flow: a reservation placed with a token is charged right away. Only the first
   * attempt is the saga's; later ones come from the retry schedule, so a redelivered event never
   * charges twice. Returns whether the provider was asked (and so whether the payment may have changed).
   */
  const chargeWithToken = async (reservation: Reservation, payment: Payment, metadata: CommandMetadata): Promise<boolean> => {
    if (!reservation.paymentTokenProvided) return false;
    if (payment.status !== "pending" || reservation.status !== "placed") {
      await deps.paymentTokens.discard(reservation.reservationId);
      return false;
    }
    if (payment.attempts.length > 0) return false;
    return automaticCharge.first(reservation, payment, deterministicEventId(metadata.causationId, "charge", 0), metadata);
  };

  const refund = async (payment: Payment, reason: string, metadata: CommandMetadata): Promise<void> => {
    // One refund per payment: its id is derived from the payment, so the provider never refunds twice.
    const refundId = deterministicEventId(payment.paymentId, "refund", 0);
    // Nothing was charged for a zero amount, so there is nothing to give back through the provider.
    if (payment.amount > 0) {
      try {
        await deps.provider.refund({ paymentId: payment.paymentId, refundId, amount: payment.amount, currency: payment.currency });
      } catch (error) {
        if (error instanceof PaymentProviderUnavailableError) throw new TransientError(error.message);
        throw error;
      }
    }
    await deps.payments.handle(payment.paymentId, () => ({ type: "RefundPayment", data: { refundId, reason, now: now() } }), metadata);
  };

  /** Returns the reservation as it is afterwards: settling moves it on. */
  const reconcilePayment = async (reservation: Reservation, payment: Payment, metadata: CommandMetadata): Promise<Reservation> => {
    if (ENDED.has(reservation.status)) {
      if (payment.status === "pending") {
        await deps.payments.handle(payment.paymentId, () => ({ type: "VoidPayment", data: { reason: `reservation ${reservation.status}`, now: now() } }), metadata);
      } else if (payment.status === "paid") {
        await refund(payment, `reservation ${reservation.status}`, metadata);
      }
      return reservation;
    }
    if (reservation.status === "placed" && payment.status === "paid") {
      const settled = await deps.reservations.handle(reservation.reservationId, () => ({ type: "SettleReservationPayment", data: { now: now() } }), metadata);
      if (isPlaced(settled.state)) return settled.state;
    }
    return reservation;
  };

  const reconcileUnits = (reservation: Reservation, metadata: CommandMetadata): Promise<void> =>
    reconcileAllocation(deps.products, reservation, now, metadata);

  /**
   * The stream of the event being handled must be read at least up to that event; a cached state that
   * far needs no read. Later events of that stream, and the other streams' events, come to the saga
   * in turn, and every command it sends is checked against the stream's current revision.
   */
  const upTo = (event: ConsumedEvent, streamId: string): { atLeastRevision?: number } =>
    event.streamId === streamId ? { atLeastRevision: event.revision } : {};

  const reconcile = async (reservationId: string, event: ConsumedEvent, metadata: CommandMetadata): Promise<void> => {
    const loaded = await deps.reservations.load(reservationId, upTo(event, deps.reservations.streamOf(reservationId)));
    if (!isPlaced(loaded.state)) return;
    const reservation = loaded.state;
    if (reservation.status !== "placed") await deps.unpaidHolds?.release(reservation.customerId, reservationId);
    const current = await deps.payments.load(reservation.paymentId, upTo(event, deps.payments.streamOf(reservation.paymentId)));
    let payment = isRequested(current.state) ? current.state : await requestPayment(reservation, metadata);
    if (event.type === "ReservationPlaced" && (await chargeWithToken(reservation, payment, metadata))) {
      const charged = await deps.payments.load(reservation.paymentId);
      if (isRequested(charged.state)) payment = charged.state;
    }
    if (ENDED.has(reservation.status)) {
      if (reservation.paymentTokenProvided) await deps.paymentTokens.discard(reservation.reservationId);
      // Units first: giving them back must not wait for a refund while the provider is down.
      await reconcileUnits(reservation, metadata);
      await reconcilePayment(reservation, payment, metadata);
      return;
    }
    // Settling moves the reservation on (to confirmed): the units follow its new status.
    await reconcileUnits(await reconcilePayment(reservation, payment, metadata), metadata);
  };

  return {
    group: "reservation-saga",
    streamPrefixes: [streamPrefixOf(reservationAggregate), streamPrefixOf(paymentAggregate)],
    handle: async (event: ConsumedEvent) => {
      const reservationId = reservationIdOf(event.streamId);
      if (!reservationId) return;
      const metadata: CommandMetadata = {
        correlationId: event.metadata?.$correlationId ?? reservationId,
        causationId: event.eventId,
        actor: SAGA_ACTOR,
      };
      // Another saga node may change the same aggregates at the same moment; a command refused
      // because of that (`invalid-transition`) only means the picture changed: look again.
      for (let attempt = 1; ; attempt += 1) {
        try {
          await reconcile(reservationId, event, metadata);
          return;
        } catch (error) {
          if (!(error instanceof InvalidTransitionError) || attempt >= 3) throw error;
        }
      }
    },
  };
};
