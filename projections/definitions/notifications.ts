import type { DeliveryStatus } from "../../src/application/read-models.js";
import type { NotificationAudience, NotificationKind } from "../../src/domain/index.js";
import { parseNotificationEvent } from "../../src/domain/notification/events.js";
import type { IndexEntry, ProjectionDefinition, SourceEvent } from "../engine.js";
import { keyPart } from "../keys.js";
import { millis, parseStreamId } from "./streams.js";

export interface StoredNotification {
  readonly id: string;
  /** Absent in documents built before sellers were notified: read as "customer". */
  readonly audience?: NotificationAudience;
  readonly customerId: string;
  readonly sellerId?: string;
  readonly reservationId: string;
  readonly kind: NotificationKind;
  readonly message: string;
  readonly createdAt: string;
  readonly deliveries: readonly { readonly channel: string; readonly status: DeliveryStatus }[];
}

/** Every notification of one reservation (one `notification-<reservationId>` stream). */
export interface NotificationsDocument {
  readonly notifications: readonly StoredNotification[];
}

export const NOTIFICATION_INDEXES = {
  all: "all",
  customer: (customerId: string) => `customer:${keyPart(customerId)}`,
  seller: (sellerId: string) => `seller:${keyPart(sellerId)}`,
} as const;

/** Index members name the document and the notification in it. */
export const notificationMember = (reservationId: string, notificationId: string): string => `${reservationId}/${notificationId}`;

const withDelivery = (
  doc: NotificationsDocument,
  notificationId: string,
  channel: string,
  status: DeliveryStatus,
): NotificationsDocument => ({
  notifications: doc.notifications.map((notification) => {
    if (notification.id !== notificationId) return notification;
    const known = notification.deliveries.some((delivery) => delivery.channel === channel);
    const deliveries = known
      ? notification.deliveries.map((delivery) => (delivery.channel === channel ? { channel, status } : delivery))
      : [...notification.deliveries, { channel, status }];
    return { ...notification, deliveries };
  }),
});

const evolve = (doc: NotificationsDocument, event: SourceEvent): NotificationsDocument => {
  const parsed = parseNotificationEvent(event.type, event.data);
  switch (parsed.type) {
    case "NotificationRecorded": {
      const d = parsed.data;
      // A second record of the same notification (a duplicated append) changes nothing.
      if (doc.notifications.some((notification) => notification.id === d.notificationId)) return doc;
      const notification: StoredNotification = {
        id: d.notificationId,
        audience: d.audience ?? "customer",
        customerId: d.customerId,
        ...(d.sellerId === undefined ? {} : { sellerId: d.sellerId }),
        reservationId: d.reservationId,
        kind: d.kind,
        message: d.message,
        createdAt: d.createdAt,
        deliveries: d.channels.map((channel) => ({ channel, status: "pending" as const })),
      };
      return { notifications: [...doc.notifications, notification] };
    }
    case "NotificationDelivered":
      return withDelivery(doc, parsed.data.notificationId, parsed.data.channel, "delivered");
    case "NotificationDeliveryFailed": {
      // A success recorded for the same channel wins over a failure recorded by a duplicate run.
      const current = doc.notifications
        .find((notification) => notification.id === parsed.data.notificationId)
        ?.deliveries.find((delivery) => delivery.channel === parsed.data.channel);
      return current?.status === "delivered" ? doc : withDelivery(doc, parsed.data.notificationId, parsed.data.channel, "failed");
    }
  }
};

/**
 * `GET /notifications`: one document per reservation's notification stream
 * (`doc:notifications:<reservationId>`), sorted sets of `<reservationId>/<notificationId>` by
 * creation time, for everyone (`idx:all`), per customer (`idx:customer:<customerId>`, the
 * customer's own) and per seller (`idx:seller:<sellerId>`, the seller's own).
 */
export const notificationsProjection: ProjectionDefinition<NotificationsDocument> = {
  name: "notifications",
  streamPrefixes: ["notification-"],
  documentOf: (streamId) => {
    const stream = parseStreamId(streamId);
    return stream?.category === "notification" ? `notifications:${stream.id}` : undefined;
  },
  initial: () => ({ notifications: [] }),
  evolve,
  indexes: (_docId, doc) =>
    doc.notifications.flatMap((notification): IndexEntry[] => {
      const member = notificationMember(notification.reservationId, notification.id);
      const score = millis(notification.createdAt);
      // Each audience reads its own index: a customer never sees what was written for the seller.
      const own =
        notification.audience === "seller"
          ? notification.sellerId === undefined
            ? []
            : [{ index: NOTIFICATION_INDEXES.seller(notification.sellerId), score, member }]
          : [{ index: NOTIFICATION_INDEXES.customer(notification.customerId), score, member }];
      return [{ index: NOTIFICATION_INDEXES.all, score, member }, ...own];
    }),
};
