import type { ReservationEvent, ReservationPlaced } from "../../src/domain/reservation/index.js";

/** The reservation the domain specifications talk about, and the times they share. */
export const RES = "5a0d1f4e-2b3c-4d5e-8f60-718293a4b5c6";
export const PRODUCT = "6f1c2a9e-8d3b-4c1e-9a7f-0b2d4e6f8a10";
export const T0 = "2025-03-01T09:00:00.000Z";
export const EXPIRES = "2025-03-01T09:15:00.000Z";
export const T1 = "2025-03-01T09:05:00.000Z";

/**
 * Two bulgogi at 12,000 KRW for alice: what the place command asks for, the placed event records and
 * the folded state keeps, so that one change of terms reaches all three.
 */
export const TERMS = {
  reservationId: RES,
  productId: PRODUCT,
  productName: "Bulgogi",
  customerId: "alice",
  sellerId: "seller-1",
  quantity: 2,
  unitPrice: 12_000,
  currency: "KRW",
  kind: "sale",
  sellerAcceptance: false,
  fulfilmentSteps: [],
} as const satisfies Partial<ReservationPlaced["data"]>;

/** `ReservationPlaced` of the shared `TERMS`, with `terms` overriding any field. */
export const placed = (terms: Partial<ReservationPlaced["data"]> = {}): ReservationEvent => ({
  type: "ReservationPlaced",
  data: {
    ...TERMS,
    amount: 24_000,
    placedAt: T0,
    expiresAt: EXPIRES,
    paymentTokenProvided: false,
    ...terms,
  },
});
