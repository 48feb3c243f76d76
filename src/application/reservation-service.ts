import type { PaymentTokenStore } from "./payment-token-store.js";
import { LONGEST_HOLD_MS, type UnpaidHolds, UnpaidHoldsLimitError, provisionalHoldEnd } from "./unpaid-holds.js";
import { randomUUID } from "node:crypto";
import {
  type Product,
  type Reservation,
  type ReservationCommand,
  type ReservationEvent,
  type ReservationState,
  InvalidTransitionError,
  isPlaced,
  isRegistered,
} from "../domain/index.js";
import type { CommandMetadata, Repository } from "../core/repository.js";
import type { IdempotencyIds } from "../core/event-ids.js";
import { checkRevision, commandMetadata } from "./command-context.js";
import { AccessDeniedError, IdempotencyKeyReusedError, ResourceNotFoundError } from "./errors.js";
import type { Actor, CommandContext, PlaceReservationInput, ReservationService, ReservationView } from "./ports.js";
import type { PaymentRepository } from "./payment-service.js";
import type { ProductRepository } from "./product-service.js";
import { reservationView } from "./views.js";

export type ReservationRepository = Repository<ReservationCommand, ReservationEvent, ReservationState>;

type Permission = "read" | "customer" | "seller";

/** Whether a reservation is what this request asks for: a repeat of it rather than another request under the same key. */
const isSameRequest = (reservation: Reservation, input: PlaceReservationInput): boolean =>
  reservation.productId === input.productId &&
  reservation.quantity === input.quantity &&
  reservation.paymentTokenProvided === (input.paymentToken !== undefined) &&
  (input.unitPrice === undefined || input.unitPrice === reservation.unitPrice);

/** Who may do what to a reservation: its customer, the seller of its product, and admins. */
const allowed = (actor: Actor, reservation: Reservation, permission: Permission): boolean => {
  if (actor.role === "admin") return true;
  const isCustomer = actor.role === "customer" && reservation.customerId === actor.id;
  const isSeller = actor.role === "seller" && reservation.sellerId === actor.id;
  switch (permission) {
    case "read":
      return isCustomer || isSeller;
    case "customer":
      return isCustomer;
    case "seller":
      return isSeller;
  }
};

export interface ReservationServiceDependencies {
  readonly products: ProductRepository;
  readonly reservations: ReservationRepository;
  readonly payments: PaymentRepository;
  /** Keeps a payment token given with a reservation until the saga charges it. */
  readonly paymentTokens: Pick<PaymentTokenStore, "store" | "discard">;
  /** Reservation ids for requests with an Idempotency-Key (keyed with a server secret). */
  readonly idempotencyIds: IdempotencyIds;
  /** The cap on one customer's unpaid holds across products; none when absent. */
  readonly unpaidHolds?: UnpaidHolds;
  readonly clock?: () => Date;
}

export const createReservationService = ({
  products,
  reservations,
  payments,
  paymentTokens,
  idempotencyIds,
  unpaidHolds,
  clock = () => new Date(),
}: ReservationServiceDependencies): ReservationService => {
  const view = async (reservation: Reservation, revision: number): Promise<ReservationView> => {
    const payment = await payments.load(reservation.paymentId);
    return reservationView(reservation, revision, payment.state);
  };

  /** Decides a command on a reservation the actor is permitted to change, honouring `If-Match`. */
  const change = async (
    context: CommandContext,
    reservationId: string,
    permission: (reservation: Reservation) => boolean,
    command: (now: string, reservation: Reservation) => ReservationCommand,
  ): Promise<ReservationView> => {
    const handled = await reservations.handle(
      reservationId,
      (state, revision) => {
        if (!isPlaced(state)) throw new ResourceNotFoundError("reservation", reservationId);
        if (!permission(state)) throw new AccessDeniedError("not permitted on this reservation");
        checkRevision(context, revision);
        return command(clock().toISOString(), state);
      },
      commandMetadata(context, reservationId),
    );
    if (!isPlaced(handled.state)) throw new ResourceNotFoundError("reservation", reservationId);
    return view(handled.state, handled.revision);
  };

  /** Gives back a hold that no reservation can ever claim (its reservation was placed elsewhere, or abandoned). */
  const releaseOrphanedHold = async (productId: string, reservationId: string, metadata: CommandMetadata): Promise<void> => {
    await products.handle(
      productId,
      () => ({ type: "ReleaseUnits", data: { reservationId, reason: "abandoned", now: clock().toISOString() } }),
      metadata,
    );
  };

  /** Step 1: the capacity check. Idempotent per reservation id: a retry finds its own hold. */
  const holdUnits = async (input: PlaceReservationInput, customerId: string, reservationId: string, now: string, metadata: CommandMetadata) => {
    const held = await products.handle(
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
  };

  /** Step 2: the reservation itself, with what the customer agreed to. */
  const recordReservation = async (
    context: CommandContext,
    input: PlaceReservationInput,
    reservationId: string,
    product: Product,
    now: string,
    metadata: CommandMetadata,
    expectNew: boolean,
  ) => {
    const placed = await reservations.handle(
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
  };

  /** Step 3, here as well as in the saga: payments must be accepted while the workers are down. */
  const requestPayment = async (reservation: Reservation, now: string, metadata: CommandMetadata, expectNew: boolean) => {
    const requested = await payments.handle(
      reservation.paymentId,
      () => ({
        type: "RequestPayment",
        data: {
          paymentId: reservation.paymentId,
          reservationId: reservation.reservationId,
          customerId: reservation.customerId,
          amount: reservation.amount,
          currency: reservation.currency,
          now,
        },
      }),
      metadata,
      { expectNew },
    );
    return requested.state;
  };

  /**
   * Places a reservation: hold units on the product, record the reservation, request its payment.
   * With an `Idempotency-Key` the reservation id derives from (user, key), so every step is
   * idempotent and a repeat answers the first result; the same key with another request is refused
   * before anything is held, or — when two such requests race — the loser gives its hold back at once
   * (and, should it die first, the hold watchdog does at the hold's deadline).
   */
  const place = async (context: CommandContext, input: PlaceReservationInput, idempotencyKey?: string) => {
    if (context.actor.role !== "customer") throw new AccessDeniedError("only customers place reservations");
    const reservationId = idempotencyKey === undefined ? randomUUID() : idempotencyIds(context.actor.id, idempotencyKey);
    if (idempotencyKey !== undefined) {
      const existing = await reservations.load(reservationId);
      if (isPlaced(existing.state)) {
        if (!isSameRequest(existing.state, input)) throw new IdempotencyKeyReusedError(reservationId);
        return { reservation: await view(existing.state, existing.revision), created: false };
      }
    }
    // One saga, one correlation id: every event of this reservation's life carries its id.
    const metadata = commandMetadata(context, reservationId);
    // A random id names streams nobody wrote yet: they are appended to without being read first.
    const expectNew = idempotencyKey === undefined;
    const customerId = context.actor.id;
    const at = clock();
    const now = at.toISOString();
    if (unpaidHolds && !(await unpaidHolds.claim(customerId, reservationId, provisionalHoldEnd(at)))) {
      throw new UnpaidHoldsLimitError(unpaidHolds.limit);
    }
    // Kept before anything is held (for the longest hold there is, until the product says): when the
    // token cannot be kept, nothing happens. The saga finds it when it sees the reservation placed.
    const { paymentToken } = input;
    try {
      if (paymentToken !== undefined) await paymentTokens.store(reservationId, paymentToken, LONGEST_HOLD_MS / 1000);
    } catch (error) {
      await unpaidHolds?.release(customerId, reservationId);
      throw error;
    }
    let product: Awaited<ReturnType<typeof holdUnits>>;
    try {
      product = await holdUnits(input, customerId, reservationId, now, metadata);
    } catch (error) {
      await unpaidHolds?.release(customerId, reservationId);
      if (paymentToken !== undefined) await paymentTokens.discard(reservationId).catch(() => undefined);
      throw error;
    }
    // Best effort, so the placement does not wait for it: failing, the claim keeps the longest hold's
    // end. (`XX`: landing after the saga released the claim, it adds nothing back.)
    void unpaidHolds?.holdUntil(customerId, reservationId, new Date(at.getTime() + product.holdTtlSeconds * 1000));
    // The token lives as long as the hold, no longer. Awaited: the saga must not discard it before this lands.
    // Best effort: failing, it keeps the longer expiry.
    if (paymentToken !== undefined) await paymentTokens.store(reservationId, paymentToken, product.holdTtlSeconds).catch(() => undefined);
    let placed: Awaited<ReturnType<typeof recordReservation>>;
    try {
      placed = await recordReservation(context, input, reservationId, product, now, metadata, expectNew);
    } catch (error) {
      // An abandoned reservation id can never be placed: nothing will ever claim the hold just made.
      if (error instanceof InvalidTransitionError) await releaseOrphanedHold(input.productId, reservationId, metadata);
      throw error;
    }
    if (!isSameRequest(placed.reservation, input)) {
      if (placed.reservation.productId !== input.productId) await releaseOrphanedHold(input.productId, reservationId, metadata);
      throw new IdempotencyKeyReusedError(reservationId);
    }
    const payment = await requestPayment(placed.reservation, now, metadata, expectNew);
    return { reservation: reservationView(placed.reservation, placed.revision, payment), created: placed.created };
  };

  const customerOrAdmin = (context: CommandContext) => (reservation: Reservation) => allowed(context.actor, reservation, "customer");
  const sellerOrAdmin = (context: CommandContext) => (reservation: Reservation) => allowed(context.actor, reservation, "seller");

  return {
    place,

    get: async (actor: Actor, reservationId: string) => {
      const { state, revision } = await reservations.load(reservationId);
      if (!isPlaced(state)) throw new ResourceNotFoundError("reservation", reservationId);
      if (!allowed(actor, state, "read")) throw new AccessDeniedError("not permitted to read this reservation");
      return view(state, revision);
    },

    cancel: (context, reservationId) =>
      change(context, reservationId, customerOrAdmin(context), (now) => ({
        type: "CancelReservation",
        data: { by: context.actor, now },
      })),

    accept: (context, reservationId) =>
      change(context, reservationId, sellerOrAdmin(context), (now) => ({ type: "AcceptReservation", data: { now } })),

    reject: (context, reservationId, reason) =>
      change(context, reservationId, sellerOrAdmin(context), (now) => ({
        type: "RejectReservation",
        data: reason === undefined ? { now } : { reason, now },
      })),

    progress: (context, reservationId, step) =>
      change(
        context,
        reservationId,
        // The customer may confirm the final step (e.g. "delivered"); every other step is the seller's.
        (reservation) =>
          allowed(context.actor, reservation, "seller") ||
          (allowed(context.actor, reservation, "customer") && reservation.fulfilmentSteps.at(-1) === step),
        (now) => ({ type: "ProgressReservation", data: { step, now } }),
      ),

    start: (context, reservationId) =>
      change(context, reservationId, customerOrAdmin(context), (now) => ({ type: "StartRental", data: { now } })),

    return: (context, reservationId) =>
      change(context, reservationId, customerOrAdmin(context), (now) => ({ type: "ReturnRental", data: { now } })),
  };
};
