import type { NotificationAudience, NotificationKind } from "../../domain/notifications.js";

/** What a channel delivers. */
export interface Notification {
  readonly id: string;
  /** Whom it is for: the customer, or the product's seller (`sellerId`). */
  readonly audience: NotificationAudience;
  readonly customerId: string;
  readonly sellerId?: string;
  readonly reservationId: string;
  readonly kind: NotificationKind;
  readonly message: string;
  readonly createdAt: string;
}

export interface DeliveryReceipt {
  /** How many tries it took. */
  readonly attempts: number;
}

/** A channel gave up on a notification. */
export class DeliveryFailedError extends Error {
  override readonly name = "DeliveryFailedError";
  constructor(
    message: string,
    readonly attempts: number,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A way to reach a customer: log, webhook (a messenger such as KakaoTalk is a webhook). `deliver`
 * resolves once the notification is handed over, or rejects with `DeliveryFailedError` once the
 * channel has given up (it does its own retrying).
 */
export interface NotificationChannel {
  readonly name: string;
  deliver(notification: Notification): Promise<DeliveryReceipt>;
}
