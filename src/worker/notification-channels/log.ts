import type { Logger } from "../../logger.js";
import type { DeliveryReceipt, Notification, NotificationChannel } from "./notification.js";

/** The default channel: one log line per notification. It cannot fail. */
export const logChannel = (logger: Logger): NotificationChannel => ({
  name: "log",
  deliver: async (notification: Notification): Promise<DeliveryReceipt> => {
    logger.info(
      {
        notification: {
          id: notification.id,
          audience: notification.audience,
          customerId: notification.customerId,
          sellerId: notification.sellerId,
          reservationId: notification.reservationId,
          kind: notification.kind,
          createdAt: notification.createdAt,
        },
      },
      `notify ${notification.audience === "seller" ? `seller ${notification.sellerId ?? "(unknown)"}` : notification.customerId}: ${notification.message}`,
    );
    return { attempts: 1 };
  },
});
