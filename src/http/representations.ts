import type { ProductView, ReservationView } from "../application/ports.js";
import type { ProductResponse, ReservationResponse } from "./schemas.js";

// Explicit projections: whatever else a view may carry never leaks into a response.

export function productResponse(view: ProductView): ProductResponse {
  return {
    id: view.id,
    sellerId: view.sellerId,
    name: view.name,
    capacity: view.capacity,
    available: view.available,
    held: view.held,
    committed: view.committed,
    status: view.status,
    unitPrice: view.unitPrice,
    currency: view.currency,
    kind: view.kind,
    sellerAcceptance: view.sellerAcceptance,
    fulfilmentSteps: [...view.fulfilmentSteps],
    holdTtlSeconds: view.holdTtlSeconds,
    revision: view.revision,
  };
}

export function reservationResponse(view: ReservationView): ReservationResponse {
  return {
    id: view.id,
    productId: view.productId,
    productName: view.productName,
    customerId: view.customerId,
    sellerId: view.sellerId,
    quantity: view.quantity,
    amount: view.amount,
    currency: view.currency,
    status: view.status,
    paymentId: view.paymentId,
    paymentStatus: view.paymentStatus,
    currentStep: view.currentStep,
    expiresAt: view.expiresAt,
    createdAt: view.createdAt,
    updatedAt: view.updatedAt,
    revision: view.revision,
  };
}
