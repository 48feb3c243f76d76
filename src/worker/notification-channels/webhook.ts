import { Webhook } from "standardwebhooks";
import type { Logger } from "../../logger.js";
import { DeliveryFailedError, type DeliveryReceipt, type Notification, type NotificationChannel } from "./notification.js";

export interface WebhookChannelOptions {
  readonly url: string;
  /** Channel name, `webhook` unless told (several webhooks need several names). */
  readonly name?: string;
  /** Per attempt. */
  readonly timeoutMs?: number;
  /** Attempts in all, the first included. */
  readonly attempts?: number;
  /** The wait before the second attempt; doubled for each one after, up to `maxBackoffMs`. */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** A Standard Webhooks secret (`whsec_…`): each attempt is signed with it. */
  readonly secret?: string;
  readonly logger?: Logger;
}

const RETRYABLE_STATUSES = new Set([408, 425, 429]);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const describe = (error: unknown): string => {
  if (error instanceof Error && error.name === "TimeoutError") return "timed out";
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
};

/** A `Retry-After` in seconds (the date form is not worth honouring here). */
const retryAfterMs = (response: Response): number | undefined => {
  const value = Number(response.headers.get("retry-after"));
  return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
};

/**
 * POSTs each notification as JSON to a URL (a messenger gateway such as KakaoTalk's is one). A 2xx
 * answer delivers it. Network errors, timeouts, 408, 425, 429 and 5xx are retried with exponential
 * backoff (honouring `Retry-After`, capped); any other answer is a refusal and is not retried.
 * Every request carries `Idempotency-Key: <notification id>`, so a receiver can drop the duplicate
 * an at-least-once redelivery may cause. With a secret, every attempt is signed as Standard Webhooks
 * says (`webhook-id` = the notification id, the same on every retry; `webhook-timestamp`;
 * `webhook-signature: v1,<HMAC-SHA256>`), so a receiver can tell deliveries from forgeries and
 * refuse replays of old ones.
 */
export const webhookChannel = (options: WebhookChannelOptions): NotificationChannel => {
  const name = options.name ?? "webhook";
  const timeoutMs = options.timeoutMs ?? 5000;
  const attempts = Math.max(1, options.attempts ?? 4);
  const backoffMs = options.backoffMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 4000;
  const url = new URL(options.url);
  const signer = options.secret === undefined ? undefined : new Webhook(options.secret);
  const signatureHeaders = (id: string, body: string): Record<string, string> => {
    if (!signer) return {};
    const now = new Date();
    return {
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
      "webhook-signature": signer.sign(id, now, body),
    };
  };

  return {
    name,
    deliver: async (notification: Notification): Promise<DeliveryReceipt> => {
      const body = JSON.stringify({
        id: notification.id,
        audience: notification.audience,
        customerId: notification.customerId,
        ...(notification.sellerId === undefined ? {} : { sellerId: notification.sellerId }),
        reservationId: notification.reservationId,
        kind: notification.kind,
        message: notification.message,
        createdAt: notification.createdAt,
      });
      let lastError = "no attempt was made";
      for (let attempt = 1; attempt <= attempts; attempt += 1) {
        let wait = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
        try {
          const response = await fetch(url, {
            method: "POST",
            headers: {
              "Content-Type": "application/json",
              "Idempotency-Key": notification.id,
              "User-Agent": "reservations-notifier/1",
              ...signatureHeaders(notification.id, body),
            },
            body,
            redirect: "error",
            signal: AbortSignal.timeout(timeoutMs),
          });
          // Drain the body so the connection can be reused.
          await response.arrayBuffer().catch(() => undefined);
          if (response.ok) return { attempts: attempt };
          lastError = `the webhook answered ${response.status}`;
          if (!(RETRYABLE_STATUSES.has(response.status) || response.status >= 500)) {
            throw new DeliveryFailedError(`${lastError}; not retried`, attempt);
          }
          wait = Math.min(maxBackoffMs, retryAfterMs(response) ?? wait);
        } catch (error) {
          if (error instanceof DeliveryFailedError) throw error;
          lastError = `the webhook could not be reached: ${describe(error)}`;
        }
        if (attempt < attempts) {
          options.logger?.debug(
            { channel: name, notificationId: notification.id, attempt, err: lastError },
            "webhook delivery failed; retrying",
          );
          await sleep(wait);
        }
      }
      throw new DeliveryFailedError(`${lastError} (after ${attempts} attempts)`, attempts);
    },
  };
};
