import { randomUUID } from "node:crypto";
import { type PaymentState, type Product, type Reservation, InvalidTransitionError, isPlaced, isRegistered } from "../domain/index.js";
import { requestPaymentFor } from "../domain/processes/index.js";
import type { CommandMetadata } from "../core/repository.js";
import { commandMetadata } from "./command-context.js";
import { AccessDeniedError, IdempotencyKeyReusedError, ResourceNotFoundError } from "./errors.js";
import type { CommandContext, PlaceReservationInput, ReservationView } from "./ports.js";
import type { ReservationServiceDependencies } from "./reservation-dependencies.js";
import { LONGEST_HOLD_MS, UnpaidHoldsLimitError, provisionalHoldEnd } from "./unpaid-holds.js";
import { reservationView } from "./views.js";

export interface Placement {
  readonly reservation: ReservationView;
  /** False when an idempotency key's repeat answers the first result. */
  readonly created: boolean;
}

/** What one placement request fixes before its first effect, shared by every step. */
interface Attempt {
  readonly context: CommandContext;
  readonly input: PlaceReservationInput;
  readonly reservationId: string;
  readonly customerId: string;
  readonly at: Date;
  readonly now: string;
  readonly metadata: CommandMetadata;
  /** A random id names streams nobody wrote yet: they are appended to without being read first. */
  readonly expectNew: boolean;
}

interface RecordedReservation {
  readonly reservation: Reservation;
  readonly revision: number;
  readonly created: boolean;
}

/** Whether a reservation is what this request asks for: a repeat of it rather than another request under the same key. */
const isSameRequest = (reservation: Reservation, input: PlaceReservationInput): boolean =>
  reservation.productId === input.productId &&
  reservation.quantity === input.quantity &&
  reservation.paymentTokenProvided === (input.paymentToken !== undefined) &&
  (input.unitPrice === undefined || input.unitPrice === reservation.unitPrice);

/**
 * Places a reservation: hold units on the product, record the reservation, request its payment.
 * With an `Idempotency-Key` the reservation id derives from (user, key), so every step is
 * idempotent and a repeat answers the first result; the same key with another request is refused
 * before anything is held, or — when two such requests race — the loser gives its hold back at once
 * (and, should it die first, the hold watchdog does at the hold's deadline).
 */
export class ReservationPlacement {
  constructor(
    private readonly deps: ReservationServiceDependencies,
    private readonly clock: () => Date,
  ) {}

  async place(context: CommandContext, input: PlaceReservationInput, idempotencyKey?: string): Promise<Placement> {
    if (context.actor.role !== "customer") throw new AccessDeniedError("only customers place reservations");
    const reservationId = idempotencyKey === undefined ? randomUUID() : this.deps.idempotencyIds(context.actor.id, idempotencyKey);
    if (idempotencyKey !== undefined) {
      const repeat = await this.answerToRepeat(reservationId, input);
      if (repeat !== undefined) return repeat;
    }
    const attempt = this.begin(context, input, reservationId, idempotencyKey === undefined);
    await this.claimUnpaidHold(attempt);
    await this.storePaymentToken(attempt);
    const product = await this.holdUnitsOrUndoClaims(attempt);
    this.endClaimWithHold(attempt, product);
    await this.expireTokenWithHold(attempt, product);
    const placed = await this.recordReservationOrReleaseHold(attempt, product);
    await this.refuseAnotherRequest(attempt, placed.reservation);
    const payment = await this.requestPayment(attempt, placed.reservation);
    return { reservation: reservationView(placed.reservation, placed.revision, payment), created: placed.created };
  }

  /** The first result when this key already placed this request; refused when it placed another. */
  private async answerToRepeat(reservationId: string, input: PlaceReservationInput): Promise<Placement | undefined> {
    const existing = await this.deps.reservations.load(reservationId);
    if (!isPlaced(existing.state)) return undefined;
    if (!isSameRequest(existing.state, input)) throw new IdempotencyKeyReusedError(reservationId);
    const payment = await this.deps.payments.load(existing.state.paymentId);
    return { reservation: reservationView(existing.state, existing.revision, payment.state), created: false };
  }

  /** Only after the repeat check: a repeat answers without reading the clock or minting a command id. */
  private begin(context: CommandContext, input: PlaceReservationInput, reservationId: string, expectNew: boolean): Attempt {
    const at = this.clock();
    return {
      context,
      input,
      reservationId,
      customerId: context.actor.id,
      at,
      now: at.toISOString(),
      // One saga, one correlation id: every event of this reservation's life carries its id.
      metadata: commandMetadata(context, reservationId),
      expectNew,
    };
  }

  private async claimUnpaidHold({ customerId, reservationId, at }: Attempt): Promise<void> {
    const { unpaidHolds } = this.deps;
    if (unpaidHolds && !(await unpaidHolds.claim(customerId, reservationId, provisionalHoldEnd(at)))) {
      throw new UnpaidHoldsLimitError(unpaidHolds.limit);
    }
  }

  /**
   * Kept before anything is held (for the longest hold there is, until the product says): when the
   * token cannot be kept, nothing happens. The saga finds it when it sees the reservation placed.
   */
  private async storePaymentToken({ input: { paymentToken }, customerId, reservationId }: Attempt): Promise<void> {
    try {
      if (paymentToken !== undefined) await this.deps.paymentTokens.store(reservationId, paymentToken, LONGEST_HOLD_MS / 1000);
    } catch (error) {
      await this.deps.unpaidHolds?.release(customerId, reservationId);
      throw error;
    }
  }

  /** With no hold there is nothing to pay for: the claim and the token go. */
  private async holdUnitsOrUndoClaims(attempt: Attempt): Promise<Product> {
    const { input, customerId, reservationId } = attempt;
    try {
      return await this.holdUnits(attempt);
    } catch (error) {
      await this.deps.unpaidHolds?.release(customerId, reservationId);
      if (input.paymentToken !== undefined) await this.deps.paymentTokens.discard(reservationId).catch(() => undefined);
      throw error;
    }
  }

  /** The capacity check. Idempotent per reservation id: a retry finds its own hold. */
  private async holdUnits({ input, customerId, reservationId, now, metadata }: Attempt): Promise<Product> {
    const held = await this.deps.products.handle(
      input.productId,
      (state) => {
        if (!isRegistered(state)) throw new ResourceNotFoundError("product", input.productId);
        return {
          type: "HoldUnits",
          data: {
            reservationId,
            quantity: input.quantity,
            customerId,
            now,
            ...(input.unitPrice === undefined ? {} : { agreedUnitPrice: input.unitPrice }),
          },
        };
      },
      metadata,
    );
    const product = held.state;
    if (!isRegistered(product)) throw new ResourceNotFoundError("product", input.productId);
    const allocation = product.allocations.get(reservationId);
    if (!allocation || allocation.stage === "released") {
      // Only a retried idempotency key can find its hold gone: the first attempt died and was cleaned up.
      throw new InvalidTransitionError("reservation", "abandoned", "place", "the first attempt with this idempotency key was abandoned");
    }
    // Another request with the same key holds a different quantity here: that one is the key's request.
    if (allocation.quantity !== input.quantity) throw new IdempotencyKeyReusedError(reservationId);
    return product;
  }

  /**
   * Best effort, so the placement does not wait for it: failing, the claim keeps the longest hold's
   * end. (`XX`: landing after the saga released the claim, it adds nothing back.)
   */
  private endClaimWithHold({ customerId, reservationId, at }: Attempt, product: Product): void {
    void this.deps.unpaidHolds?.holdUntil(customerId, reservationId, new Date(at.getTime() + product.holdTtlSeconds * 1000));
  }

  /**
   * The token lives as long as the hold, no longer. Awaited: the saga must not discard it before this
   * lands. Best effort: failing, it keeps the longer expiry.
   */
  private async expireTokenWithHold({ input: { paymentToken }, reservationId }: Attempt, product: Product): Promise<void> {
    if (paymentToken === undefined) return;
    await this.deps.paymentTokens.store(reservationId, paymentToken, product.holdTtlSeconds).catch(() => undefined);
  }

  private async recordReservationOrReleaseHold(attempt: Attempt, product: Product): Promise<RecordedReservation> {
    try {
      return await this.recordReservation(attempt, product);
    } catch (error) {
      // An abandoned reservation id can never be placed: nothing will ever claim the hold just made.
      if (error instanceof InvalidTransitionError) await this.releaseOrphanedHold(attempt);
      throw error;
    }
  }

  /** The reservation itself, with what the customer agreed to. */
  private async recordReservation(
    { context, input, reservationId, now, metadata, expectNew }: Attempt,
    product: Product,
  ): Promise<RecordedReservation> {
    const placed = await this.deps.reservations.handle(
      reservationId,
      () => ({
        type: "PlaceReservation",
        data: {
          reservationId,
          productId: product.productId,
          productName: product.name,
          customerId: context.actor.id,
          sellerId: product.sellerId,
          quantity: input.quantity,
          unitPrice: product.unitPrice,
          currency: product.currency,
          kind: product.kind,
          sellerAcceptance: product.sellerAcceptance,
          fulfilmentSteps: product.fulfilmentSteps,
          holdTtlSeconds: product.holdTtlSeconds,
          paymentTokenProvided: input.paymentToken !== undefined,
          now,
        },
      }),
      metadata,
      { expectNew },
    );
    if (!isPlaced(placed.state)) throw new Error(`reservation ${reservationId} was not recorded`);
    return { reservation: placed.state, revision: placed.revision, created: placed.events.length > 0 };
  }

  /** Two requests raced under one key and the other one's reservation was recorded. */
  private async refuseAnotherRequest(attempt: Attempt, reservation: Reservation): Promise<void> {
    if (isSameRequest(reservation, attempt.input)) return;
    if (reservation.productId !== attempt.input.productId) await this.releaseOrphanedHold(attempt);
    throw new IdempotencyKeyReusedError(attempt.reservationId);
  }

  /** Gives back a hold that no reservation can ever claim (its reservation was placed elsewhere, or abandoned). */
  private async releaseOrphanedHold({ input, reservationId, metadata }: Attempt): Promise<void> {
    await this.deps.products.handle(
      input.productId,
      () => ({ type: "ReleaseUnits", data: { reservationId, reason: "abandoned", now: this.clock().toISOString() } }),
      metadata,
    );
  }

  /** Here as well as in the saga: payments must be accepted while the workers are down. */
  private async requestPayment({ now, metadata, expectNew }: Attempt, reservation: Reservation): Promise<PaymentState> {
    const requested = await this.deps.payments.handle(reservation.paymentId, () => requestPaymentFor(reservation, now), metadata, {
      expectNew,
    });
    return requested.state;
  }
}
