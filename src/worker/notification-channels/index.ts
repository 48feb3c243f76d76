import type { Logger } from "../../logger.js";
import { logChannel } from "./log.js";
import type { NotificationChannel } from "./notification.js";
import { webhookChannel } from "./webhook.js";

export { logChannel } from "./log.js";
export { webhookChannel, type WebhookChannelOptions } from "./webhook.js";
export * from "./notification.js";

export interface NotificationChannelSettings {
  /** `NOTIFY_WEBHOOK_URL`: when set, notifications are also POSTed there. */
  readonly webhookUrl?: string | undefined;
  readonly webhookTimeoutMs?: number;
  readonly webhookAttempts?: number;
  /** `NOTIFY_WEBHOOK_SECRET`: signs each delivery (Standard Webhooks). */
  readonly webhookSecret?: string | undefined;
}

/** The configured channels: always the log, plus the webhook when a URL is given. */
export const createNotificationChannels = (logger: Logger, settings: NotificationChannelSettings = {}): NotificationChannel[] => {
  if (settings.webhookUrl === undefined) return [logChannel(logger)];
  if (settings.webhookSecret === undefined) {
    logger.warn("NOTIFY_WEBHOOK_SECRET is not set: webhook deliveries are not signed, so receivers cannot tell them from forgeries");
  }
  const webhook = webhookChannel({
    url: settings.webhookUrl,
    logger,
    ...(settings.webhookTimeoutMs === undefined ? {} : { timeoutMs: settings.webhookTimeoutMs }),
    ...(settings.webhookAttempts === undefined ? {} : { attempts: settings.webhookAttempts }),
    ...(settings.webhookSecret === undefined ? {} : { secret: settings.webhookSecret }),
  });
  return [logChannel(logger), webhook];
};
