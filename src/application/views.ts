import type { PaymentState, Product, Reservation } from "../domain/index.js";
import type { PaymentStatus, ProductView, ReservationView } from "./ports.js";

export const productView = (product: Product, revision: number): ProductView => ({
  id: product.productId,
  sellerId: product.sellerId,
  name: product.name,
  capacity: product.capacity,
  available: product.available,
  held: product.held,
  committed: product.committed,
  status: product.status,
  unitPrice: product.unitPrice,
  currency: product.currency,
  kind: product.kind,
  sellerAcceptance: product.sellerAcceptance,
  fulfilmentSteps: [...product.fulfilmentSteps],
  holdTtlSeconds: product.holdTtlSeconds,
  ...(product.perCustomerLimit === undefined ? {} : { perCustomerLimit: product.perCustomerLimit }),
  revision,
});

export const reservationView = (reservation: Reservation, revision: number, payment: PaymentState): ReservationView => ({
  id: reservation.reservationId,
  productId: reservation.productId,
  productName: reservation.productName,
  customerId: reservation.customerId,
  sellerId: reservation.sellerId,
  quantity: reservation.quantity,
  amount: reservation.amount,
  currency: reservation.currency,
  status: reservation.status,
  paymentId: reservation.paymentId,
  paymentStatus: payment.status === "none" ? null : (payment.status satisfies PaymentStatus),
  currentStep: reservation.currentStep,
  expiresAt: reservation.expiresAt,
  createdAt: reservation.createdAt,
  updatedAt: reservation.updatedAt,
  revision,
});
