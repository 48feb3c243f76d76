import { z } from "zod";
import {
  aggregateId,
  currency,
  eventParser,
  fulfilmentSteps,
  isoTime,
  minorUnits,
  positiveCount,
  productKind,
  userId,
  type EventsOf,
} from "../events.js";

const reservationRef = { reservationId: aggregateId, quantity: positiveCount };

/** Why a reservation's units went back to the pool; `abandoned`: a hold whose reservation was never recorded. */
export const releaseReason = z.enum(["expired", "cancelled", "rejected", "returned", "abandoned"]);
export type ReleaseReason = z.output<typeof releaseReason>;

export const productEventSchemas = {
  ProductRegistered: z.object({
    productId: aggregateId,
    sellerId: userId,
    name: z.string().min(1).max(200),
    capacity: positiveCount,
    unitPrice: minorUnits,
    currency,
    kind: productKind,
    sellerAcceptance: z.boolean(),
    fulfilmentSteps,
    holdTtlSeconds: positiveCount,
    /** Units one customer may hold and reserve at once; absent: no limit (and on products registered before it existed). */
    perCustomerLimit: positiveCount.optional(),
    registeredAt: isoTime,
  }),
  /** Carries only the fields that changed (at least one). */
  ProductUpdated: z
    .object({
      name: z.string().min(1).max(200).optional(),
      capacity: positiveCount.optional(),
      unitPrice: minorUnits.optional(),
      updatedAt: isoTime,
    })
    .refine((d) => d.name !== undefined || d.capacity !== undefined || d.unitPrice !== undefined, "no change"),
  ProductWithdrawn: z.object({ withdrawnAt: isoTime }),
  /** `expiresAt` lets a watchdog release a hold whose reservation was never recorded (crash). */
  /** `customerId`: whose hold it is (absent on holds recorded before per-customer limits). */
  UnitsHeld: z.object({ ...reservationRef, customerId: userId.optional(), heldAt: isoTime, expiresAt: isoTime }),
  HeldUnitsReleased: z.object({ ...reservationRef, reason: releaseReason, releasedAt: isoTime }),
  HeldUnitsCommitted: z.object({ ...reservationRef, committedAt: isoTime }),
  CommittedUnitsReleased: z.object({ ...reservationRef, reason: releaseReason, releasedAt: isoTime }),
};

export type ProductEvent = EventsOf<typeof productEventSchemas>;
export type ProductEventType = ProductEvent["type"];
export type ProductEventData<T extends ProductEventType> = Extract<ProductEvent, { type: T }>["data"];

export type ProductRegistered = Extract<ProductEvent, { type: "ProductRegistered" }>;
export type ProductUpdated = Extract<ProductEvent, { type: "ProductUpdated" }>;
export type ProductWithdrawn = Extract<ProductEvent, { type: "ProductWithdrawn" }>;
export type UnitsHeld = Extract<ProductEvent, { type: "UnitsHeld" }>;
export type HeldUnitsReleased = Extract<ProductEvent, { type: "HeldUnitsReleased" }>;
export type HeldUnitsCommitted = Extract<ProductEvent, { type: "HeldUnitsCommitted" }>;
export type CommittedUnitsReleased = Extract<ProductEvent, { type: "CommittedUnitsReleased" }>;

/** Validates an event read back from the store; throws `EventSchemaError`. */
export const parseProductEvent = eventParser(productEventSchemas);
export const productEventTypes = parseProductEvent.eventTypes;
export const isProductEventType = parseProductEvent.isEventType;
