import { type Reservation, isRegistered } from "../domain/index.js";
import type { ProductRepository } from "../application/product-service.js";
import type { CommandMetadata } from "../core/repository.js";
import { allocationFollowUp, followUpCommand, mayNeedFollowUp } from "../domain/processes/index.js";

/**
 * Brings a reservation's units on its product in line with its status (release or commit), the
 * one way the saga and the hold watchdog both do it. Idempotent: the product decider ignores what
 * was already done.
 */
export const reconcileAllocation = async (
  products: ProductRepository,
  reservation: Reservation,
  now: () => string,
  metadata: CommandMetadata,
): Promise<void> => {
  if (!mayNeedFollowUp(reservation)) return;
  const { state: product } = await products.load(reservation.productId);
  if (!isRegistered(product)) return;
  const followUp = allocationFollowUp(reservation, product.allocations.get(reservation.reservationId));
  if (followUp === undefined) return;
  await products.handle(reservation.productId, () => followUpCommand(reservation.reservationId, followUp, now()), metadata);
};
