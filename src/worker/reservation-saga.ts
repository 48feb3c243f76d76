import { InvalidTransitionError, isPlaced, isRegistered, isRequested } from "../domain/index.js";
import { type SagaAction, type SagaPicture, type SagaRefund, decideReservationSaga } from "../domain/processes/index.js";
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
import { AutomaticCharge, type AutomaticChargeDependencies } from "./automatic-charge.js";
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
 * The runner of the reservation saga: it loads what the process manager
 * (`src/domain/processes/reservation-saga.ts`) looks at, asks it what to do, and carries that out
 * through the repositories, the token store and the payment provider. Event ids are derived from
 * the event that caused them, so a redelivered event writes nothing new.
 */
export class ReservationSagaRunner {
  private readonly clock: () => Date;
  private readonly automaticCharge: AutomaticCharge;

  constructor(private readonly deps: ReservationSagaDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.automaticCharge = new AutomaticCharge({ ...deps, retries: deps.chargeRetries, clock: this.clock });
  }

  /** Handles one event of a reservation's or its payment's stream. */
  async handle(event: ConsumedEvent): Promise<void> {
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
        await this.reconcile(reservationId, event, metadata);
        return;
      } catch (error) {
        if (!(error instanceof InvalidTransitionError) || attempt >= 3) throw error;
      }
    }
  }

  /** One round: load the picture, then decide and carry out until the process manager is done. */
  private async reconcile(reservationId: string, event: ConsumedEvent, metadata: CommandMetadata): Promise<void> {
    const { reservations, payments } = this.deps;
    const loaded = await reservations.load(reservationId, upTo(event, reservations.streamOf(reservationId)));
    if (!isPlaced(loaded.state)) return;
    const reservation = loaded.state;
    const payment = await payments.load(reservation.paymentId, upTo(event, payments.streamOf(reservation.paymentId)));
    let picture: SagaPicture = {
      stage: "start",
      trigger: event.type,
      reservation,
      payment: payment.state,
      units: { read: false },
      now: this.now(),
    };
    for (;;) {
      const decision = decideReservationSaga(picture);
      for (const action of decision.actions) picture = await this.perform(action, picture, metadata);
      if (decision.next === undefined) return;
      picture = { ...picture, stage: decision.next, now: this.now() };
    }
  }

  /** Carries one action out; returns the picture with what it changed or learnt. */
  private async perform(action: SagaAction, picture: SagaPicture, metadata: CommandMetadata): Promise<SagaPicture> {
    switch (action.type) {
      case "send":
        return this.send(action, picture, metadata);
      case "refund":
        return this.refund(action, picture, metadata);
      case "charge-token":
        return this.chargeToken(picture, metadata);
      case "discard-token":
        await this.deps.paymentTokens.discard(action.reservationId);
        return picture;
      case "release-unpaid-hold":
        await this.deps.unpaidHolds?.release(action.customerId, action.reservationId);
        return picture;
      case "read-units": {
        const { state: product } = await this.deps.products.load(action.productId);
        return {
          ...picture,
          units: { read: true, allocation: isRegistered(product) ? product.allocations.get(action.reservationId) : undefined },
        };
      }
    }
  }

  private async send(action: Extract<SagaAction, { type: "send" }>, picture: SagaPicture, metadata: CommandMetadata): Promise<SagaPicture> {
    switch (action.to) {
      case "reservation": {
        const handled = await this.deps.reservations.handle(action.id, () => action.command, metadata);
        return isPlaced(handled.state) ? { ...picture, reservation: handled.state } : picture;
      }
      case "payment": {
        const handled = await this.deps.payments.handle(action.id, () => action.command, metadata);
        return { ...picture, payment: handled.state };
      }
      case "product":
        await this.deps.products.handle(action.id, () => action.command, metadata);
        return picture;
    }
  }

  private async refund(action: SagaRefund, picture: SagaPicture, metadata: CommandMetadata): Promise<SagaPicture> {
    const refundId = deterministicEventId(action.paymentId, action.refundOf, 0);
    if (action.atProvider) {
      try {
        await this.deps.provider.refund({ paymentId: action.paymentId, refundId, ...action.atProvider });
      } catch (error) {
        if (error instanceof PaymentProviderUnavailableError) throw new TransientError(error.message);
        throw error;
      }
    }
    const { record } = action;
    if (!record) return picture;
    const handled = await this.deps.payments.handle(
      action.paymentId,
      () => ({ type: "RefundPayment", data: { refundId, ...record } }),
      metadata,
    );
    return { ...picture, payment: handled.state };
  }

  private async chargeToken(picture: SagaPicture, metadata: CommandMetadata): Promise<SagaPicture> {
    if (!isRequested(picture.payment)) return picture;
    const chargeId = deterministicEventId(metadata.causationId, "charge", 0);
    const asked = await this.automaticCharge.first(picture.reservation, picture.payment, chargeId, metadata);
    if (!asked) return picture;
    // The provider was asked, so the payment may have changed.
    const charged = await this.deps.payments.load(picture.reservation.paymentId);
    return isRequested(charged.state) ? { ...picture, payment: charged.state } : picture;
  }

  private now(): string {
    return this.clock().toISOString();
  }
}

/**
 * The stream of the event being handled must be read at least up to that event; a cached state that
 * far needs no read. Later events of that stream, and the other streams' events, come to the saga
 * in turn, and every command it sends is checked against the stream's current revision.
 */
const upTo = (event: ConsumedEvent, streamId: string): { atLeastRevision?: number } =>
  event.streamId === streamId ? { atLeastRevision: event.revision } : {};

/** The saga's consumer group, over reservation and payment streams. */
export const reservationSaga = (deps: ReservationSagaDependencies): Consumer => {
  const runner = new ReservationSagaRunner(deps);
  return {
    group: "reservation-saga",
    streamPrefixes: [streamPrefixOf(reservationAggregate), streamPrefixOf(paymentAggregate)],
    handle: (event: ConsumedEvent) => runner.handle(event),
  };
};
