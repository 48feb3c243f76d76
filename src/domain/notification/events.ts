import { z } from "zod";
import { aggregateId, eventParser, isoTime, userId, type EventsOf } from "../events.js";
import { notificationAudience, notificationKind } from "../notifications.js";

/**
 * Notifications are recorded as events in EventStoreDB, one stream per reservation:
 * `notification-<reservationId>`. The notifier appends `NotificationRecorded`; each channel's
 * delivery consumer appends what became of its delivery. The notifications projection reads them.
 */
export const NOTIFICATION_STREAM_PREFIX = "notification-";

export const notificationStreamOf = (reservationId: string): string => `${NOTIFICATION_STREAM_PREFIX}${reservationId}`;

export const channelName = z.string().regex(/^[a-z][a-z0-9-]{0,39}$/, "a lower-case channel name");

export const notificationEventSchemas = {
  NotificationRecorded: z.object({
    /** Derived from the causing event's id: the same cause can never record a second notification. */
    notificationId: aggregateId,
    /** Absent on notifications recorded before sellers were notified: those are all the customer's. */
    audience: notificationAudience.optional(),
    customerId: userId,
    /** The product's seller (who reads seller notifications); absent on older records. */
    sellerId: userId.optional(),
    reservationId: aggregateId,
    kind: notificationKind,
    message: z.string().min(1).max(1000),
    /** When the change happened (the causing event's own time), not when the notifier ran. */
    createdAt: isoTime,
    /** The channels it is to be delivered on; each reports back with one of the events below. */
    channels: z.array(channelName).max(10),
    cause: z.object({
      streamId: z.string().min(1),
      revision: z.number().int().nonnegative(),
      eventId: z.string().min(1),
      type: z.string().min(1),
    }),
  }),
  NotificationDelivered: z.object({
    notificationId: aggregateId,
    channel: channelName,
    deliveredAt: isoTime,
    attempts: z.number().int().positive(),
  }),
  /** Every attempt failed (or the receiver refused it for good): recorded, never dropped silently. */
  NotificationDeliveryFailed: z.object({
    notificationId: aggregateId,
    channel: channelName,
    failedAt: isoTime,
    attempts: z.number().int().nonnegative(),
    error: z.string().min(1).max(500),
  }),
};

export type NotificationEvent = EventsOf<typeof notificationEventSchemas>;
export type NotificationRecorded = Extract<NotificationEvent, { type: "NotificationRecorded" }>;

export const parseNotificationEvent = eventParser(notificationEventSchemas);
