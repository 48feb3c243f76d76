import { z } from "zod";
import type { ReservationStatus } from "./reservation/events.js";

/**
 * Every notification kind: one per customer-visible status change (projections/README.md says
 * which event causes which, and why `reservation.placed` is not sent when a token was given).
 */
export const notificationKind = z.enum([
  "reservation.placed",
  "reservation.confirmed",
  "reservation.awaiting-acceptance",
  "reservation.accepted",
  "reservation.rejected",
  "reservation.in-progress",
  "reservation.in-use",
  "reservation.completed",
  "reservation.cancelled",
  "reservation.expired",
  "payment.paid",
  "payment.declined",
  "payment.voided",
  "payment.refunded",
  // A seller's own (audience "seller"): what waits for them and what went away on their products.
  "seller.reservation.awaiting-acceptance",
  "seller.reservation.cancelled",
]);
export type NotificationKind = z.output<typeof notificationKind>;

type UntoldStatus = Exclude<`reservation.${ReservationStatus}`, NotificationKind>;
// The customer is told of every status change: a status without its `reservation.<status>` kind
// fails to compile here, naming the missing kind.
true satisfies [UntoldStatus] extends [never] ? true : UntoldStatus;

/** Whom a notification is for: the reservation's customer, or the seller of its product. */
export const notificationAudience = z.enum(["customer", "seller"]);
export type NotificationAudience = z.output<typeof notificationAudience>;
