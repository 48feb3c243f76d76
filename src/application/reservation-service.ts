import { type Reservation, type ReservationCommand, isPlaced } from "../domain/index.js";
import { checkRevision, commandMetadata } from "./command-context.js";
import { AccessDeniedError, ResourceNotFoundError } from "./errors.js";
import type {
  Actor,
  CommandContext,
  PlaceReservationInput,
  ReservationService as ReservationServicePort,
  ReservationView,
} from "./ports.js";
import type { PaymentRepository } from "./payment-service.js";
import type { ReservationRepository, ReservationServiceDependencies } from "./reservation-dependencies.js";
import { type Placement, ReservationPlacement } from "./reservation-placement.js";
import { reservationView } from "./views.js";

export type { ReservationRepository, ReservationServiceDependencies } from "./reservation-dependencies.js";

type Permission = "read" | "customer" | "seller";

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

/**
 * The service's methods without its dependencies: what a route takes, so a stand-in fits while
 * go-to-definition still lands on the implementation below.
 */
export type ReservationOperations = Pick<ReservationService, keyof ReservationService>;

export class ReservationService implements ReservationServicePort {
  private readonly reservations: ReservationRepository;
  private readonly payments: PaymentRepository;
  private readonly clock: () => Date;
  private readonly placement: ReservationPlacement;

  constructor(deps: ReservationServiceDependencies) {
    this.reservations = deps.reservations;
    this.payments = deps.payments;
    this.clock = deps.clock ?? (() => new Date());
    this.placement = new ReservationPlacement(deps, this.clock);
  }

  /** See `ReservationPlacement`: hold, record, request the payment; idempotent under a key. */
  place(context: CommandContext, input: PlaceReservationInput, idempotencyKey?: string): Promise<Placement> {
    return this.placement.place(context, input, idempotencyKey);
  }

  async get(actor: Actor, reservationId: string): Promise<ReservationView> {
    const { state, revision } = await this.reservations.load(reservationId);
    if (!isPlaced(state)) throw new ResourceNotFoundError("reservation", reservationId);
    if (!allowed(actor, state, "read")) throw new AccessDeniedError("not permitted to read this reservation");
    return this.view(state, revision);
  }

  cancel(context: CommandContext, reservationId: string): Promise<ReservationView> {
    return this.change(context, reservationId, this.customerOrAdmin(context), (now) => ({
      type: "CancelReservation",
      data: { by: context.actor, now },
    }));
  }

  accept(context: CommandContext, reservationId: string): Promise<ReservationView> {
    return this.change(context, reservationId, this.sellerOrAdmin(context), (now) => ({ type: "AcceptReservation", data: { now } }));
  }

  reject(context: CommandContext, reservationId: string, reason?: string): Promise<ReservationView> {
    return this.change(context, reservationId, this.sellerOrAdmin(context), (now) => ({
      type: "RejectReservation",
      data: reason === undefined ? { now } : { reason, now },
    }));
  }

  progress(context: CommandContext, reservationId: string, step: string): Promise<ReservationView> {
    return this.change(
      context,
      reservationId,
      // The customer may confirm the final step (e.g. "delivered"); every other step is the seller's.
      (reservation) =>
        allowed(context.actor, reservation, "seller") ||
        (allowed(context.actor, reservation, "customer") && reservation.fulfilmentSteps.at(-1) === step),
      (now) => ({ type: "ProgressReservation", data: { step, now } }),
    );
  }

  start(context: CommandContext, reservationId: string): Promise<ReservationView> {
    return this.change(context, reservationId, this.customerOrAdmin(context), (now) => ({ type: "StartRental", data: { now } }));
  }

  return(context: CommandContext, reservationId: string): Promise<ReservationView> {
    return this.change(context, reservationId, this.customerOrAdmin(context), (now) => ({ type: "ReturnRental", data: { now } }));
  }

  /** Decides a command on a reservation the actor is permitted to change, honouring `If-Match`. */
  private async change(
    context: CommandContext,
    reservationId: string,
    permission: (reservation: Reservation) => boolean,
    command: (now: string, reservation: Reservation) => ReservationCommand,
  ): Promise<ReservationView> {
    const handled = await this.reservations.handle(
      reservationId,
      (state, revision) => {
        if (!isPlaced(state)) throw new ResourceNotFoundError("reservation", reservationId);
        if (!permission(state)) throw new AccessDeniedError("not permitted on this reservation");
        checkRevision(context, revision);
        return command(this.clock().toISOString(), state);
      },
      commandMetadata(context, reservationId),
    );
    if (!isPlaced(handled.state)) throw new ResourceNotFoundError("reservation", reservationId);
    return this.view(handled.state, handled.revision);
  }

  private async view(reservation: Reservation, revision: number): Promise<ReservationView> {
    const payment = await this.payments.load(reservation.paymentId);
    return reservationView(reservation, revision, payment.state);
  }

  private customerOrAdmin(context: CommandContext): (reservation: Reservation) => boolean {
    return (reservation) => allowed(context.actor, reservation, "customer");
  }

  private sellerOrAdmin(context: CommandContext): (reservation: Reservation) => boolean {
    return (reservation) => allowed(context.actor, reservation, "seller");
  }
}
