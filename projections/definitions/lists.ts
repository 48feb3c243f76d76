import {
  type Product,
  type ProductState,
  evolveProduct,
  initialProductState,
  isRegistered,
  parseProductEvent,
} from "../../src/domain/index.js";
import { paymentAggregate, productAggregate, reservationAggregate } from "../../src/application/aggregates.js";
import { streamPrefixOf } from "../../src/core/streams.js";
import type { IndexEntry, ProjectionDefinition, SourceEvent } from "../engine.js";
import { keyPart } from "../keys.js";
import {
  evolveReservationDocument,
  initialReservationDocument,
  placedReservation,
  type ReservationDocument,
  reservationDocumentOf,
  requestedPayment,
} from "./reservation-document.js";
import { millis, parseStreamId } from "./streams.js";

/** A product's state without its per-reservation allocations (the lists need only the counts). */
export type ProductSnapshot = Omit<Product, "allocations" | "allocatedByCustomer">;

export type ListDocument =
  { readonly kind: "product"; readonly product: ProductSnapshot | null } | ({ readonly kind: "reservation" } & ReservationDocument);

export const LIST_INDEXES = {
  products: (status?: string) => (status === undefined ? "products" : `products:status:${status}`),
  /**
   * Per product, one index serves the admin and the seller alike (a product has one seller); a
   * customer's reservations of one product have their own, so that their pages are never sparse.
   */
  reservations: (scope: { kind: "all" } | { kind: "customer" | "seller"; id: string }, status?: string, productId?: string) => {
    const base =
      productId === undefined
        ? scope.kind === "all"
          ? "reservations"
          : `reservations:${scope.kind}:${keyPart(scope.id)}`
        : scope.kind === "customer"
          ? `reservations:customer:${keyPart(scope.id)}:product:${keyPart(productId)}`
          : `reservations:product:${keyPart(productId)}`;
    return status === undefined ? base : `${base}:status:${status}`;
  },
  payments: (customerId?: string) => (customerId === undefined ? "payments" : `payments:customer:${keyPart(customerId)}`),
} as const;

const snapshotOf = (product: Product): ProductSnapshot => {
  const { allocations, allocatedByCustomer, ...snapshot } = product;
  void allocations;
  void allocatedByCustomer;
  return snapshot;
};

/** A product state from a stored snapshot: the per-reservation maps are not kept, so they start empty. */
export const productOfSnapshot = (snapshot: ProductSnapshot): Product => ({
  ...snapshot,
  allocations: new Map(),
  allocatedByCustomer: new Map(),
});

const evolveProductDocument = (product: ProductSnapshot | null, event: SourceEvent): ProductSnapshot | null => {
  // The allocations map is rebuilt empty: evolving only writes to it, and the lists never read it.
  const state: ProductState = product === null ? initialProductState : productOfSnapshot(product);
  const next = evolveProduct(state, parseProductEvent(event.type, event.data));
  return isRegistered(next) ? snapshotOf(next) : product;
};

/**
 * The lists behind `GET /products`, `GET /reservations` and `GET /payments`: one document per
 * product (`doc:product:<id>`) and per reservation with its payment (`doc:reservation:<id>`), and
 * sorted sets per list and filter, scored by creation time.
 */
export const listsProjection: ProjectionDefinition<ListDocument> = {
  name: "lists",
  streamPrefixes: [streamPrefixOf(productAggregate), streamPrefixOf(reservationAggregate), streamPrefixOf(paymentAggregate)],
  documentOf: (streamId) => {
    const stream = parseStreamId(streamId);
    if (stream?.category === "product") return `product:${stream.id}`;
    return reservationDocumentOf(streamId);
  },
  initial: (docId) =>
    docId.startsWith("product:") ? { kind: "product", product: null } : { kind: "reservation", ...initialReservationDocument() },
  evolve: (doc, event) => {
    if (doc.kind === "product") return { kind: "product", product: evolveProductDocument(doc.product, event) };
    return { kind: "reservation", ...evolveReservationDocument(doc, event) };
  },
  indexes: (_docId, doc) => {
    const entries: IndexEntry[] = [];
    if (doc.kind === "product") {
      const product = doc.product;
      if (product) {
        const score = millis(product.registeredAt);
        entries.push({ index: LIST_INDEXES.products(), score, member: product.productId });
        entries.push({ index: LIST_INDEXES.products(product.status), score, member: product.productId });
      }
      return entries;
    }
    const reservation = placedReservation(doc);
    if (reservation) {
      const score = millis(reservation.createdAt);
      const member = reservation.reservationId;
      for (const scope of [
        { kind: "all" } as const,
        { kind: "customer", id: reservation.customerId } as const,
        { kind: "seller", id: reservation.sellerId } as const,
      ]) {
        entries.push({ index: LIST_INDEXES.reservations(scope), score, member });
        entries.push({ index: LIST_INDEXES.reservations(scope, reservation.status), score, member });
      }
      for (const scope of [{ kind: "all" } as const, { kind: "customer", id: reservation.customerId } as const]) {
        entries.push({ index: LIST_INDEXES.reservations(scope, undefined, reservation.productId), score, member });
        entries.push({ index: LIST_INDEXES.reservations(scope, reservation.status, reservation.productId), score, member });
      }
    }
    const payment = requestedPayment(doc);
    if (payment) {
      const score = millis(payment.requestedAt);
      entries.push({ index: LIST_INDEXES.payments(), score, member: payment.paymentId });
      entries.push({ index: LIST_INDEXES.payments(payment.customerId), score, member: payment.paymentId });
    }
    return entries;
  },
};
