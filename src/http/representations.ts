import type { PaymentView, ProductView, ReservationView } from "../application/ports.js";
import type { MyPageView, NotificationView } from "../application/read-models.js";
import type { MyPageResponse, NotificationResponse, PaymentResponse, ProductResponse, ReservationResponse } from "./schemas.js";

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
    ...(view.perCustomerLimit === undefined ? {} : { perCustomerLimit: view.perCustomerLimit }),
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

export function paymentResponse(view: PaymentView): PaymentResponse {
  return {
    id: view.id,
    reservationId: view.reservationId,
    customerId: view.customerId,
    amount: view.amount,
    currency: view.currency,
    status: view.status,
    attempts: view.attempts.map((attempt) =>
      attempt.reason === undefined
        ? { at: attempt.at, outcome: attempt.outcome }
        : { at: attempt.at, outcome: attempt.outcome, reason: attempt.reason },
    ),
    updatedAt: view.updatedAt,
    revision: view.revision,
  };
}

/** The page without its links: those depend on the request (`pageLinks`). */
export function myPageResponse(view: MyPageView): Omit<MyPageResponse, "next" | "nextCursor"> {
  return {
    customerId: view.customerId,
    reservations: view.reservations.map((entry) => ({
      reservationId: entry.reservationId,
      productId: entry.productId,
      productName: entry.productName,
      quantity: entry.quantity,
      amount: entry.amount,
      currency: entry.currency,
      reservationStatus: entry.reservationStatus,
      paymentStatus: entry.paymentStatus,
      currentStep: entry.currentStep,
      updatedAt: entry.updatedAt,
    })),
    updatedAt: view.updatedAt,
  };
}

export function notificationResponse(view: NotificationView): NotificationResponse {
  return {
    id: view.id,
    audience: view.audience,
    customerId: view.customerId,
    ...(view.sellerId === undefined ? {} : { sellerId: view.sellerId }),
    reservationId: view.reservationId,
    kind: view.kind,
    message: view.message,
    createdAt: view.createdAt,
    deliveries: view.deliveries.map((delivery) => ({ channel: delivery.channel, status: delivery.status })),
  };
}
