import type { NotificationKind } from "../domain/index.js";

/** What one change tells its reader; the customer's and the seller's notifications are both made of it. */
export interface NotificationContent {
  readonly kind: NotificationKind;
  readonly message: string;
  /** When the change happened: the causing event's own time, so a redelivery records the same thing. */
  readonly createdAt: string;
}
