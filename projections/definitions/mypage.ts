import { paymentAggregate, reservationAggregate } from "../../src/application/aggregates.js";
import { streamPrefixOf } from "../../src/core/streams.js";
import type { ProjectionDefinition } from "../engine.js";
import { keyPart } from "../keys.js";
import {
  evolveReservationDocument,
  initialReservationDocument,
  placedReservation,
  type ReservationDocument,
  reservationDocumentOf,
} from "./reservation-document.js";
import { millis } from "./streams.js";

export const myPageIndex = (customerId: string): string => `customer:${keyPart(customerId)}`;

/**
 * My Page: one document per reservation (`doc:reservation:<id>`), and per customer a sorted set of
 * their reservations by placing time (`idx:customer:<customerId>`), read newest first.
 */
export const myPageProjection: ProjectionDefinition<ReservationDocument> = {
  name: "mypage",
  streamPrefixes: [streamPrefixOf(reservationAggregate), streamPrefixOf(paymentAggregate)],
  documentOf: reservationDocumentOf,
  initial: initialReservationDocument,
  evolve: evolveReservationDocument,
  indexes: (_docId, doc) => {
    const reservation = placedReservation(doc);
    return reservation
      ? [{ index: myPageIndex(reservation.customerId), score: millis(reservation.createdAt), member: reservation.reservationId }]
      : [];
  },
};
