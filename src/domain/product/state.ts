import { z } from "zod";
import type { ProductKind } from "../events.js";

export const productStatus = z.enum(["available", "pending", "soldout", "withdrawn"]);
export type ProductStatus = z.output<typeof productStatus>;

/** What one reservation has of this product; kept after release so every per-reservation command is idempotent. */
export interface Allocation {
  readonly quantity: number;
  readonly stage: "held" | "committed" | "released";
  /** Whose units they are, when the hold said so. */
  readonly customerId?: string;
}

export interface UnregisteredProduct {
  readonly status: "unregistered";
}

export interface Product {
  readonly status: ProductStatus;
  readonly productId: string;
  readonly sellerId: string;
  readonly name: string;
  readonly capacity: number;
  readonly unitPrice: number;
  readonly currency: string;
  readonly kind: ProductKind;
  readonly sellerAcceptance: boolean;
  readonly fulfilmentSteps: readonly string[];
  readonly holdTtlSeconds: number;
  /** Units one customer may hold and reserve at once; undefined: no limit. */
  readonly perCustomerLimit: number | undefined;
  readonly withdrawn: boolean;
  readonly held: number;
  readonly committed: number;
  /** capacity - held - committed, never negative. */
  readonly available: number;
  readonly registeredAt: string;
  readonly updatedAt: string;
  /**
   * Keyed by reservation id. A product can have 100,000 reservations, so `evolve`
   * updates this map in place instead of copying it: a folded state owns its map, and
   * a state must not be used again after it has been evolved further.
   */
  readonly allocations: Map<string, Allocation>;
  /** Units held or reserved per customer (not released), evolved in place like `allocations`. */
  readonly allocatedByCustomer: Map<string, number>;
}

export type ProductState = UnregisteredProduct | Product;

export const initialProductState: ProductState = { status: "unregistered" };

export function isRegistered(state: ProductState): state is Product {
  return state.status !== "unregistered";
}

/** DESIGN §5: withdrawn; else available if available > 0; else pending if held > 0; else soldout. */
export function deriveProductStatus(p: { withdrawn: boolean; available: number; held: number }): ProductStatus {
  if (p.withdrawn) return "withdrawn";
  if (p.available > 0) return "available";
  if (p.held > 0) return "pending";
  return "soldout";
}

/** Units that block withdrawal: every hold, and committed units only when they are rented out. */
export function unitsInUse(p: Product): number {
  return p.kind === "rental" ? p.committed : 0;
}
