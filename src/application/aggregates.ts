import {
  type PaymentCommand,
  type PaymentEvent,
  type PaymentState,
  type ProductCommand,
  type ProductEvent,
  type ProductState,
  type ReservationCommand,
  type ReservationEvent,
  type ReservationState,
  isRegistered,
  parsePaymentEvent,
  parseProductEvent,
  parseReservationEvent,
  paymentDecider,
  productDecider,
  reservationDecider,
} from "../domain/index.js";
import type { AggregateType } from "../core/repository.js";

/** Stream categories (`product-<id>` …): the text before the first dash, as `$ce-<category>` expects. */
export const productAggregate: AggregateType<ProductCommand, ProductEvent, ProductState> = {
  category: "product",
  decider: productDecider,
  parseEvent: parseProductEvent,
  // The allocation maps are evolved in place, so a batch decides on a copy of them; their values are
  // replaced, never changed, so shallow copies are enough (and much cheaper than a deep one).
  copyState: (state) =>
    isRegistered(state)
      ? { ...state, allocations: new Map(state.allocations), allocatedByCustomer: new Map(state.allocatedByCustomer) }
      : state,
};

export const reservationAggregate: AggregateType<ReservationCommand, ReservationEvent, ReservationState> = {
  category: "reservation",
  decider: reservationDecider,
  parseEvent: parseReservationEvent,
};

export const paymentAggregate: AggregateType<PaymentCommand, PaymentEvent, PaymentState> = {
  category: "payment",
  decider: paymentDecider,
  parseEvent: parsePaymentEvent,
};
