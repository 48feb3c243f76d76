import type { Redis } from "ioredis";
import {
  createReadModels,
  MAX_LIST_ITEMS,
  type MyPageEntry,
  type NotificationView,
  ReadModelUnavailableError,
  type ReadModels,
  type ReadModelStore,
  type ReadScope,
} from "../src/application/read-models.js";
import { paymentView } from "../src/application/payment-service.js";
import type { PaymentView, ProductView, ReservationView } from "../src/application/ports.js";
import { productView, reservationView } from "../src/application/views.js";
import { isTransientFailure } from "../src/worker/transient.js";
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
import { parseStored, type StoredDocument } from "./engine.js";
import { DEFAULT_KEY_ROOT, ProjectionKeys } from "./keys.js";

export interface RedisReadModelOptions {
  readonly keyRoot?: string;
  /** A query that takes longer counts as Redis being unavailable. */
  readonly timeoutMs?: number;
  /** `Retry-After` of the 503 when Redis cannot answer. */
  readonly retryAfterSeconds?: number;
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

const limitOf = (limit: number | undefined): number => Math.max(1, Math.min(MAX_LIST_ITEMS, limit ?? MAX_LIST_ITEMS));

const newestFirst = (a: { createdAt: string; id: string }, b: { createdAt: string; id: string }): number =>
  a.createdAt === b.createdAt ? (a.id < b.id ? 1 : a.id > b.id ? -1 : 0) : a.createdAt < b.createdAt ? 1 : -1;

interface Found<D> {
  readonly member: string;
  readonly stored: StoredDocument<D>;
}

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
   * The newest `limit` documents of an index of the live version. A rebuild may switch versions
   * between the two reads; then the documents are gone, and the query runs once more on the new one.
   */
  const query = async <D>(keys: ProjectionKeys, index: string, docIdOf: (member: string) => string, limit: number): Promise<Found<D>[]> => {
    for (let attempt = 0; ; attempt += 1) {
      const version = await redis.get(keys.live);
      if (version === null) return [];
      const members = await redis.zrevrange(keys.index(version, index), 0, limit - 1);
      if (members.length === 0) return [];
      const raws = await redis.mget(members.map((member) => keys.doc(version, docIdOf(member))));
      if (attempt === 0 && raws.some((raw) => raw === null) && (await redis.get(keys.live)) !== version) continue;
      return members.flatMap((member, i) => {
        const raw = raws[i];
        return typeof raw === "string" ? [{ member, stored: parseStored<D>(raw) }] : [];
      });
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
    const revision = stored.c[`reservation-${id}`];
    return reservation && revision !== undefined ? reservationView(reservation, revision, stored.d.payment) : undefined;
  };

  const notificationsOf = (stored: StoredDocument<NotificationsDocument>): NotificationView[] =>
    stored.d.notifications.map((notification) => ({ ...notification, deliveries: notification.deliveries.map((delivery) => ({ ...delivery })) }));

  return {
    products: (query_) =>
      guarded(async () => {
        const found = await query<ListDocument>(lists, LIST_INDEXES.products(query_.status), (id) => `product:${id}`, limitOf(query_.limit));
        return found.flatMap(({ member, stored }): ProductView[] => {
          const revision = stored.c[`product-${member}`];
          if (stored.d.kind !== "product" || stored.d.product === null || revision === undefined) return [];
          const view = productView(productOfSnapshot(stored.d.product), revision);
          return query_.status === undefined || view.status === query_.status ? [view] : [];
        });
      }),

    reservations: (scope, query_) =>
      guarded(async () => {
        const indexScope = scope.kind === "all" ? scope : { kind: scope.kind, id: scope.kind === "customer" ? scope.customerId : scope.sellerId };
        const found = await query<ListDocument>(
          lists,
          LIST_INDEXES.reservations(indexScope, query_.status),
          (id) => `reservation:${id}`,
          limitOf(query_.limit),
        );
        return found.flatMap(({ member, stored }) => {
          const view = reservationItem(member, stored);
          if (!view || (query_.status !== undefined && view.status !== query_.status)) return [];
          if (scope.kind === "customer" && view.customerId !== scope.customerId) return [];
          if (scope.kind === "seller" && view.sellerId !== scope.sellerId) return [];
          return [view];
        });
      }),

    payments: (scope, query_) =>
      guarded(async () => {
        const index = LIST_INDEXES.payments(scope.kind === "customer" ? scope.customerId : undefined);
        const found = await query<ListDocument>(lists, index, (id) => `reservation:${id}`, limitOf(query_.limit));
        return found.flatMap(({ member, stored }): PaymentView[] => {
          if (stored.d.kind !== "reservation") return [];
          const payment = requestedPayment(stored.d);
          const revision = stored.c[`payment-${member}`];
          if (!payment || revision === undefined) return [];
          if (scope.kind === "customer" && payment.customerId !== scope.customerId) return [];
          return [paymentView(payment, revision)];
        });
      }),

    myPage: (customerId) =>
      guarded(async () => {
        const found = await query<ReservationDocument>(mypage, myPageIndex(customerId), (id) => `reservation:${id}`, MAX_LIST_ITEMS);
        const reservations = found.flatMap(({ stored }): MyPageEntry[] => {
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
        return { customerId, reservations, updatedAt };
      }),

    notifications: (scope: Exclude<ReadScope, { kind: "seller" }>, query_) =>
      guarded(async () => {
        const limit = limitOf(query_.limit);
        const visible = (notification: NotificationView): boolean => scope.kind === "all" || notification.customerId === scope.customerId;
        if (query_.reservationId !== undefined) {
          const stored = await getDocument<NotificationsDocument>(notifications, `notifications:${query_.reservationId}`);
          if (!stored) return [];
          return notificationsOf(stored).filter(visible).sort(newestFirst).slice(0, limit);
        }
        const index = scope.kind === "all" ? NOTIFICATION_INDEXES.all : NOTIFICATION_INDEXES.customer(scope.customerId);
        const found = await query<NotificationsDocument>(notifications, index, (member) => `notifications:${member.split("/")[0] ?? ""}`, limit);
        return found.flatMap(({ member, stored }) => {
          const id = member.split("/")[1];
          const notification = notificationsOf(stored).find((candidate) => candidate.id === id);
          return notification && visible(notification) ? [notification] : [];
        });
      }),
  };
};

/** The read-side port for the HTTP edge: authorization in front of the Redis store. */
export const createRedisReadModels = (redis: Redis, options: RedisReadModelOptions = {}): ReadModels =>
  createReadModels(createRedisReadModelStore(redis, options));
