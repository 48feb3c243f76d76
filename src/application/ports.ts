/**
 * What the HTTP edge asks of the application: commands and consistent reads of one aggregate.
 * Role and ownership are enforced here, against the state the command is decided on.
 */
import type { Actor, AttemptOutcome, PaymentStatus, ProductKind, ProductStatus, ReservationStatus, UserRole } from "../domain/index.js";

// One actor type: the domain's, which the events' metadata records too.
export type { Actor } from "../domain/index.js";

export type Role = UserRole;

export interface CommandContext {
  readonly actor: Actor;
  /** Correlates every event a request causes; the request id when nothing better exists. */
  readonly requestId: string;
  /** From `If-Match`: the aggregate revision the client last saw. */
  readonly expectedRevision?: number;
}

// One source for each enum: the domain's (its event schemas and states).
export type { PaymentStatus, ProductKind, ProductStatus, ReservationStatus } from "../domain/index.js";

export interface ProductView {
  readonly id: string;
  readonly sellerId: string;
  readonly name: string;
  readonly capacity: number;
  readonly available: number;
  readonly held: number;
  readonly committed: number;
  readonly status: ProductStatus;
  readonly unitPrice: number;
  readonly currency: string;
  readonly kind: ProductKind;
  readonly sellerAcceptance: boolean;
  readonly fulfilmentSteps: readonly string[];
  readonly holdTtlSeconds: number;
  /** Present when the product limits the units one customer may hold and reserve. */
  readonly perCustomerLimit?: number;
  readonly revision: number;
}

export interface ReservationView {
  readonly id: string;
  readonly productId: string;
  readonly productName: string;
  readonly customerId: string;
  readonly sellerId: string;
  readonly quantity: number;
  readonly amount: number;
  readonly currency: string;
  readonly status: ReservationStatus;
  readonly paymentId: string;
  /** Null until the payment has been requested. */
  readonly paymentStatus: PaymentStatus | null;
  readonly currentStep: string | null;
  readonly expiresAt: string;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly revision: number;
}

export interface RegisterProductInput {
  readonly name: string;
  readonly capacity: number;
  readonly unitPrice: number;
  readonly currency?: string;
  readonly kind?: ProductKind;
  readonly sellerAcceptance?: boolean;
  readonly fulfilmentSteps?: readonly string[];
  readonly holdTtlSeconds?: number;
  readonly perCustomerLimit?: number;
}

export interface UpdateProductInput {
  readonly name?: string;
  readonly capacity?: number;
  readonly unitPrice?: number;
}

export interface PlaceReservationInput {
  readonly productId: string;
  readonly quantity: number;
  readonly paymentToken?: string;
  /** The unit price the customer agreed to; the placement is refused when the product's differs. */
  readonly unitPrice?: number;
}

export interface ProductService {
  register(context: CommandContext, input: RegisterProductInput): Promise<ProductView>;
  /** Anyone may read a product. Undefined when it does not exist. */
  get(productId: string): Promise<ProductView | undefined>;
  update(context: CommandContext, productId: string, input: UpdateProductInput): Promise<ProductView>;
  withdraw(context: CommandContext, productId: string): Promise<ProductView>;
}

export interface ReservationService {
  /**
   * Holds units on the product, then records the reservation. With an idempotency key, repeating
   * the call returns the first result and changes nothing (`created` false).
   */
  place(
    context: CommandContext,
    input: PlaceReservationInput,
    idempotencyKey?: string,
  ): Promise<{ readonly reservation: ReservationView; readonly created: boolean }>;
  /** Checks that the actor may read it: its customer, the product's seller, or an admin. */
  get(actor: Actor, reservationId: string): Promise<ReservationView>;
  cancel(context: CommandContext, reservationId: string): Promise<ReservationView>;
  accept(context: CommandContext, reservationId: string): Promise<ReservationView>;
  reject(context: CommandContext, reservationId: string, reason?: string): Promise<ReservationView>;
  progress(context: CommandContext, reservationId: string, step: string): Promise<ReservationView>;
  start(context: CommandContext, reservationId: string): Promise<ReservationView>;
  return(context: CommandContext, reservationId: string): Promise<ReservationView>;
}

export type PaymentAttemptOutcome = AttemptOutcome;

export interface PaymentView {
  /** A payment's id is its reservation's id. */
  readonly id: string;
  readonly reservationId: string;
  readonly customerId: string;
  readonly amount: number;
  readonly currency: string;
  readonly status: PaymentStatus;
  readonly attempts: readonly { readonly at: string; readonly outcome: PaymentAttemptOutcome; readonly reason?: string }[];
  readonly updatedAt: string;
  readonly revision: number;
}

export interface PaymentService {
  /** Its customer or an admin. */
  get(actor: Actor, paymentId: string): Promise<PaymentView>;
  /**
   * Charges the payment through the provider (its customer only). Paying a paid payment returns it
   * unchanged. Throws `PaymentDeclinedError` (402) when the provider declines and
   * `PaymentProviderUnavailableError` (503) when it cannot answer; either way the attempt is recorded.
   */
  pay(context: CommandContext, paymentId: string, token: string, idempotencyKey?: string): Promise<PaymentView>;
}

/** Liveness of what the service depends on, for `/health/ready`. */
export interface ReadinessProbe {
  check(): Promise<Record<string, { readonly up: boolean; readonly detail?: string }>>;
}
