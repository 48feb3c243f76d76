import type { ProductKind } from "../events.js";
import type { ReleaseReason } from "./events.js";

/** `now` is the ISO time of the command; the domain never reads the clock. */
export type ProductCommand =
  | {
      type: "RegisterProduct";
      data: {
        productId: string;
        sellerId: string;
        name: string;
        capacity: number;
        unitPrice: number;
        currency?: string;
        kind?: ProductKind;
        sellerAcceptance?: boolean;
        fulfilmentSteps?: readonly string[];
        holdTtlSeconds?: number;
        perCustomerLimit?: number;
        now: string;
      };
    }
  | { type: "UpdateProduct"; data: { name?: string; capacity?: number; unitPrice?: number; now: string } }
  | { type: "WithdrawProduct"; data: { now: string } }
  /** `agreedUnitPrice`: the price the customer saw; the hold is refused when the product's price differs. */
  | {
      type: "HoldUnits";
      data: { reservationId: string; quantity: number; customerId?: string; agreedUnitPrice?: number; now: string };
    }
  | { type: "CommitHeldUnits"; data: { reservationId: string; now: string } }
  /**
   * Gives a reservation's units back, whatever stage they are in: held units are
   * released as `HeldUnitsReleased`, committed ones as `CommittedUnitsReleased`.
   */
  | { type: "ReleaseUnits"; data: { reservationId: string; reason: ReleaseReason; now: string } };

export type ProductCommandType = ProductCommand["type"];

export const PRODUCT_DEFAULTS = {
  currency: "KRW",
  kind: "sale",
  sellerAcceptance: false,
  fulfilmentSteps: [] as readonly string[],
  holdTtlSeconds: 900,
} as const;
export type ProductCommandOf<T extends ProductCommandType> = Extract<ProductCommand, { type: T }>;
