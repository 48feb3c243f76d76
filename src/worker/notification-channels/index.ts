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
}

/** The configured channels: always the log, plus the webhook when a URL is given. */
export const createNotificationChannels = (logger: Logger, settings: NotificationChannelSettings = {}): NotificationChannel[] => [
  logChannel(logger),
  ...(settings.webhookUrl === undefined
    ? []
    : [
        webhookChannel({
          url: settings.webhookUrl,
          logger,
          ...(settings.webhookTimeoutMs === undefined ? {} : { timeoutMs: settings.webhookTimeoutMs }),
          ...(settings.webhookAttempts === undefined ? {} : { attempts: settings.webhookAttempts }),
        }),
      ]),
];
