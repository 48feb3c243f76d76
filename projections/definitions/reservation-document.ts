import {
  type Payment,
  type PaymentState,
  type Reservation,
  type ReservationState,
  evolvePayment,
  evolveReservation,
  initialPaymentState,
  initialReservationState,
  isPlaced,
  isRequested,
  parsePaymentEvent,
  parseReservationEvent,
} from "../../src/domain/index.js";
import type { SourceEvent } from "../engine.js";
import { parseStreamId } from "./streams.js";

/**
 * One reservation as the read side sees it: the reservation stream folded with the reservation
 * decider, and its payment stream (payment id = reservation id) folded with the payment decider, so
 * that list items equal what `GET /reservations/{id}` and `GET /payments/{id}` answer. The product
 * name and terms come with `ReservationPlaced`.
 */
export interface ReservationDocument {
  readonly reservation: ReservationState;
  readonly payment: PaymentState;
}

export const initialReservationDocument = (): ReservationDocument => ({
  reservation: initialReservationState,
  payment: initialPaymentState,
});

/** `reservation:<id>` for both streams of a reservation. */
export const reservationDocumentOf = (streamId: string): string | undefined => {
  const stream = parseStreamId(streamId);
  return stream && (stream.category === "reservation" || stream.category === "payment") ? `reservation:${stream.id}` : undefined;
};

export const evolveReservationDocument = (doc: ReservationDocument, event: SourceEvent): ReservationDocument => {
  const stream = parseStreamId(event.streamId);
  if (stream?.category === "reservation") {
    return { reservation: evolveReservation(doc.reservation, parseReservationEvent(event.type, event.data)), payment: doc.payment };
  }
  if (stream?.category === "payment") {
    return { reservation: doc.reservation, payment: evolvePayment(doc.payment, parsePaymentEvent(event.type, event.data)) };
  }
  return doc;
};

export const placedReservation = (doc: ReservationDocument): Reservation | undefined =>
  isPlaced(doc.reservation) ? doc.reservation : undefined;

export const requestedPayment = (doc: ReservationDocument): Payment | undefined => (isRequested(doc.payment) ? doc.payment : undefined);
