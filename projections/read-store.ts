import type { Redis } from "ioredis";
import { comesBefore, encodeCursor, type ListPosition, type Page } from "../src/application/list-cursor.js";
import {
  createReadModels,
  DEFAULT_LIST_ITEMS,
  MAX_LIST_ITEMS,
  type MyPageEntry,
  type NotificationView,
  ReadModelUnavailableError,
  type ReadModels,
  type ReadModelStore,
  type ReadScope,
} from "../src/application/read-models.js";
import { paymentAggregate, productAggregate, reservationAggregate } from "../src/application/aggregates.js";
import { paymentView } from "../src/application/payment-service.js";
import type { PaymentView, ProductView, ReservationView } from "../src/application/ports.js";
import { productView, reservationView } from "../src/application/views.js";
import { streamOf } from "../src/core/streams.js";
import { isTransientFailure } from "../src/core/transient.js";
import {
  LIST_INDEXES,
  type ListDocument,
  myPageIndex,
  NOTIFICATION_INDEXES,
  type NotificationsDocument,
  type ReservationDocument,
} from "./definitions/index.js";
import { placedReservation, requestedPayment } from "./definitions/reservation-document.js";
import { productOfSnapshot } from "./definitions/lists.js";
import { millis } from "./definitions/streams.js";
import { notificationMember } from "./definitions/notifications.js";
import { parseStored, type StoredDocument } from "./engine.js";
import { readIndexPage } from "./index-page.js";
import { DEFAULT_KEY_ROOT, ProjectionKeys } from "./keys.js";

export interface RedisReadModelOptions {
  readonly keyRoot?: string;
  /** A query that takes longer counts as Redis being unavailable. */
  readonly timeoutMs?: number;
  /** `Retry-After` of the 503 when Redis cannot answer. */
  readonly retryAfterSeconds?: number;
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const limitOf = (limit: number | undefined): number => Math.max(1, Math.min(MAX_LIST_ITEMS, limit ?? DEFAULT_LIST_ITEMS));

/** A notification's place in the lists: the same score and member as its index entries. */
const notificationPosition = (notification: NotificationView): ListPosition => ({
  score: millis(notification.createdAt),
  member: notificationMember(notification.reservationId, notification.id),
});

interface Found<D> {
  readonly member: string;
  readonly stored: StoredDocument<D>;
}

interface FoundPage<D> {
  readonly found: Found<D>[];
  readonly nextCursor: string | null;
}

/**
 * A page's next cursor is the last index entry the page covered, not its last shown item: items
 * filtered out after reading (a document behind its index) must not be read again.
 */
const pageOf = <T>(items: T[], nextCursor: string | null): Page<T> => ({ items, nextCursor });

/** Audience of a notification stored before audiences existed: the customer. */
const audienceOf = (notification: NotificationView): NotificationView["audience"] => notification.audience ?? "customer";

const visibleIn = (scope: ReadScope, notification: NotificationView): boolean => {
  if (scope.kind === "all") return true;
  if (scope.kind === "customer") return audienceOf(notification) === "customer" && notification.customerId === scope.customerId;
  return audienceOf(notification) === "seller" && notification.sellerId === scope.sellerId;
};

/**
 * The read models in Redis, queried through each projection's live version: an index (sorted set)
 * gives the newest members, one MGET their documents. Any failure to reach Redis, or an answer that
 * takes longer than `timeoutMs`, is a `ReadModelUnavailableError` (503 with `Retry-After`).
 */
export const createRedisReadModelStore = (redis: Redis, options: RedisReadModelOptions = {}): ReadModelStore => {
  const root = options.keyRoot ?? DEFAULT_KEY_ROOT;
  const timeoutMs = options.timeoutMs ?? 2000;
  const retryAfterSeconds = options.retryAfterSeconds ?? 5;
  const lists = new ProjectionKeys("lists", root);
  const mypage = new ProjectionKeys("mypage", root);
  const notifications = new ProjectionKeys("notifications", root);

  const unavailable = (error: unknown): ReadModelUnavailableError =>
    new ReadModelUnavailableError(`the read models cannot be read right now (${describe(error)})`, retryAfterSeconds, { cause: error });

  const guarded = async <T>(work: () => Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(new Error(`Redis did not answer within ${timeoutMs} ms`))), timeoutMs);
    });
    try {
      return await Promise.race([work(), timeout]);
    } catch (error) {
      if (error instanceof ReadModelUnavailableError) throw error;
      if (isTransientFailure(error) || redis.status !== "ready") throw unavailable(error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  };

  /**
   * One page of an index of the live version: the `limit` entries after `after`, and their
   * documents. A rebuild may switch versions between the reads; then the documents are gone, and
   * the query runs once more on the new one (positions do not depend on the version).
   */
  const query = async <D>(
    keys: ProjectionKeys,
    index: string,
    docIdOf: (member: string) => string,
    limit: number,
    after: ListPosition | undefined,
  ): Promise<FoundPage<D>> => {
    for (let attempt = 0; ; attempt += 1) {
      const version = await redis.get(keys.live);
      if (version === null) return { found: [], nextCursor: null };
      // One entry more than asked says whether another page follows.
      const entries = await readIndexPage(redis, keys.index(version, index), limit + 1, after);
      const shown = entries.slice(0, limit);
      const last = shown.at(-1);
      const nextCursor = entries.length > limit && last !== undefined ? encodeCursor(last) : null;
      if (shown.length === 0) return { found: [], nextCursor: null };
      const raws = await redis.mget(shown.map(({ member }) => keys.doc(version, docIdOf(member))));
      if (attempt === 0 && raws.some((raw) => raw === null) && (await redis.get(keys.live)) !== version) continue;
      const found = shown.flatMap(({ member }, i) => {
        const raw = raws[i];
        return typeof raw === "string" ? [{ member, stored: parseStored<D>(raw) }] : [];
      });
      return { found, nextCursor };
    }
  };

  const getDocument = async <D>(keys: ProjectionKeys, docId: string): Promise<StoredDocument<D> | undefined> => {
    const version = await redis.get(keys.live);
    if (version === null) return undefined;
    const raw = await redis.get(keys.doc(version, docId));
    return raw === null ? undefined : parseStored<D>(raw);
  };

  const reservationItem = (id: string, stored: StoredDocument<ListDocument>): ReservationView | undefined => {
    if (stored.d.kind !== "reservation") return undefined;
    const reservation = placedReservation(stored.d);
    const revision = stored.c[streamOf(reservationAggregate, id)];
    return reservation && revision !== undefined ? reservationView(reservation, revision, stored.d.payment) : undefined;
  };

  const notificationsOf = (stored: StoredDocument<NotificationsDocument>): NotificationView[] =>
    stored.d.notifications.map((notification) => ({
      ...notification,
      audience: notification.audience ?? "customer",
      deliveries: notification.deliveries.map((delivery) => ({ ...delivery })),
    }));

  return {
    products: (query_) =>
      guarded(async () => {
        const page = await query<ListDocument>(lists, LIST_INDEXES.products(query_.status), (id) => `product:${id}`, limitOf(query_.limit), query_.after);
        const items = page.found.flatMap(({ member, stored }): ProductView[] => {
          const revision = stored.c[streamOf(productAggregate, member)];
          if (stored.d.kind !== "product" || stored.d.product === null || revision === undefined) return [];
          const view = productView(productOfSnapshot(stored.d.product), revision);
          return query_.status === undefined || view.status === query_.status ? [view] : [];
        });
        return pageOf(items, page.nextCursor);
      }),

    reservations: (scope, query_) =>
      guarded(async () => {
        const indexScope = scope.kind === "all" ? scope : { kind: scope.kind, id: scope.kind === "customer" ? scope.customerId : scope.sellerId };
        const page = await query<ListDocument>(
          lists,
          LIST_INDEXES.reservations(indexScope, query_.status, query_.productId),
          (id) => `reservation:${id}`,
          limitOf(query_.limit),
          query_.after,
        );
        const items = page.found.flatMap(({ member, stored }) => {
          const view = reservationItem(member, stored);
          if (!view || (query_.status !== undefined && view.status !== query_.status)) return [];
          if (query_.productId !== undefined && view.productId !== query_.productId) return [];
          if (scope.kind === "customer" && view.customerId !== scope.customerId) return [];
          if (scope.kind === "seller" && view.sellerId !== scope.sellerId) return [];
          return [view];
        });
        return pageOf(items, page.nextCursor);
      }),

    payments: (scope, query_) =>
      guarded(async () => {
        const index = LIST_INDEXES.payments(scope.kind === "customer" ? scope.customerId : undefined);
        const page = await query<ListDocument>(lists, index, (id) => `reservation:${id}`, limitOf(query_.limit), query_.after);
        const items = page.found.flatMap(({ member, stored }): PaymentView[] => {
          if (stored.d.kind !== "reservation") return [];
          const payment = requestedPayment(stored.d);
          const revision = stored.c[streamOf(paymentAggregate, member)];
          if (!payment || revision === undefined) return [];
          if (scope.kind === "customer" && payment.customerId !== scope.customerId) return [];
          return [paymentView(payment, revision)];
        });
        return pageOf(items, page.nextCursor);
      }),

    myPage: (customerId, query_) =>
      guarded(async () => {
        const page = await query<ReservationDocument>(mypage, myPageIndex(customerId), (id) => `reservation:${id}`, limitOf(query_.limit), query_.after);
        const reservations = page.found.flatMap(({ stored }): MyPageEntry[] => {
          const reservation = placedReservation(stored.d);
          if (!reservation || reservation.customerId !== customerId) return [];
          const payment = requestedPayment(stored.d);
          const updatedAt = payment && payment.updatedAt > reservation.updatedAt ? payment.updatedAt : reservation.updatedAt;
          return [
            {
              reservationId: reservation.reservationId,
              productId: reservation.productId,
              productName: reservation.productName,
              quantity: reservation.quantity,
              amount: reservation.amount,
              currency: reservation.currency,
              reservationStatus: reservation.status,
              paymentStatus: payment?.status ?? null,
              currentStep: reservation.currentStep,
              updatedAt,
            },
          ];
        });
        const updatedAt = reservations.reduce<string | null>((latest, entry) => (latest === null || entry.updatedAt > latest ? entry.updatedAt : latest), null);
        return { customerId, reservations, updatedAt, nextCursor: page.nextCursor };
      }),

    notifications: (scope, query_) =>
      guarded(async () => {
        const limit = limitOf(query_.limit);
        const after = query_.after;
        if (query_.reservationId !== undefined) {
          // One reservation's notifications are one document: paged here, in the indexes' order.
          const stored = await getDocument<NotificationsDocument>(notifications, `notifications:${query_.reservationId}`);
          if (!stored) return pageOf([], null);
          const ordered = notificationsOf(stored)
            .filter((notification) => visibleIn(scope, notification))
            .map((notification) => ({ notification, position: notificationPosition(notification) }))
            .filter(({ position }) => after === undefined || comesBefore(after, position))
            .sort((a, b) => (comesBefore(a.position, b.position) ? -1 : comesBefore(b.position, a.position) ? 1 : 0));
          const shown = ordered.slice(0, limit);
          const last = shown.at(-1);
          return pageOf(
            shown.map(({ notification }) => notification),
            ordered.length > limit && last !== undefined ? encodeCursor(last.position) : null,
          );
        }
        const index =
          scope.kind === "all"
            ? NOTIFICATION_INDEXES.all
            : scope.kind === "customer"
              ? NOTIFICATION_INDEXES.customer(scope.customerId)
              : NOTIFICATION_INDEXES.seller(scope.sellerId);
        const page = await query<NotificationsDocument>(notifications, index, (member) => `notifications:${member.split("/")[0] ?? ""}`, limit, after);
        const items = page.found.flatMap(({ member, stored }) => {
          const id = member.split("/")[1];
          const notification = notificationsOf(stored).find((candidate) => candidate.id === id);
          return notification && visibleIn(scope, notification) ? [notification] : [];
        });
        return pageOf(items, page.nextCursor);
      }),
  };
};

/** The read-side port for the HTTP edge: authorization in front of the Redis store. */
export const createRedisReadModels = (redis: Redis, options: RedisReadModelOptions = {}): ReadModels =>
  createReadModels(createRedisReadModelStore(redis, options));
