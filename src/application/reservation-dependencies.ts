import type { ReservationCommand, ReservationEvent, ReservationState } from "../domain/index.js";
import type { IdempotencyIds } from "../core/event-ids.js";
import type { Repository } from "../core/repository.js";
import type { PaymentRepository } from "./payment-service.js";
import type { PaymentTokenStore } from "./payment-token-store.js";
import type { ProductRepository } from "./product-service.js";
import type { UnpaidHolds } from "./unpaid-holds.js";

export type ReservationRepository = Repository<ReservationCommand, ReservationEvent, ReservationState>;

/** What the reservation service and its placement work with (their own module, so neither imports the other back). */
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
