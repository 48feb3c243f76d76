import type { Redis } from "ioredis";
import { comesBefore, encodeCursor, type ListPosition, type Page } from "../src/application/list-cursor.js";
import {
  createReadModels,
  DEFAULT_LIST_ITEMS,
  MAX_LIST_ITEMS,
  type ListOptions,
  type MyPageEntry,
  type MyPageView,
  type NotificationListOptions,
  type NotificationView,
  ReadModelUnavailableError,
  type ReadModels,
  type ReadModelStore,
  type ReadScope,
  type ReservationListOptions,
} from "../src/application/read-models.js";
import { paymentAggregate, productAggregate, reservationAggregate } from "../src/application/aggregates.js";
import { paymentView } from "../src/application/payment-service.js";
import type { PaymentView, ProductStatus, ProductView, ReservationView } from "../src/application/ports.js";
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

const myPageEntryOf = (stored: StoredDocument<ReservationDocument>, customerId: string): MyPageEntry | undefined => {
  const reservation = placedReservation(stored.d);
  if (!reservation || reservation.customerId !== customerId) return undefined;
  const payment = requestedPayment(stored.d);
  const updatedAt = payment && payment.updatedAt > reservation.updatedAt ? payment.updatedAt : reservation.updatedAt;
  return {
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
  };
};

const notificationIndexOf = (scope: ReadScope): string =>
  scope.kind === "all"
    ? NOTIFICATION_INDEXES.all
    : scope.kind === "customer"
      ? NOTIFICATION_INDEXES.customer(scope.customerId)
      : NOTIFICATION_INDEXES.seller(scope.sellerId);

/**
 * The read models in Redis, queried through each projection's live version: an index (sorted set)
 * gives the newest members, one MGET their documents. Any failure to reach Redis, or an answer that
 * takes longer than `timeoutMs`, is a `ReadModelUnavailableError` (503 with `Retry-After`).
 */
export class RedisReadModelStore implements ReadModelStore {
  private readonly timeoutMs: number;
  private readonly retryAfterSeconds: number;
  private readonly lists: ProjectionKeys;
  private readonly mypage: ProjectionKeys;
  private readonly notificationKeys: ProjectionKeys;

  constructor(
    private readonly redis: Redis,
    options: RedisReadModelOptions = {},
  ) {
    const root = options.keyRoot ?? DEFAULT_KEY_ROOT;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.retryAfterSeconds = options.retryAfterSeconds ?? 5;
    this.lists = new ProjectionKeys("lists", root);
    this.mypage = new ProjectionKeys("mypage", root);
    this.notificationKeys = new ProjectionKeys("notifications", root);
  }

  products(query: ListOptions & { readonly status?: ProductStatus }): Promise<Page<ProductView>> {
    return this.guarded(async () => {
      const page = await this.query<ListDocument>(
        this.lists,
        LIST_INDEXES.products(query.status),
        (id) => `product:${id}`,
        limitOf(query.limit),
        query.after,
      );
      const items = page.found.flatMap(({ member, stored }): ProductView[] => {
        const revision = stored.c[streamOf(productAggregate, member)];
        if (stored.d.kind !== "product" || stored.d.product === null || revision === undefined) return [];
        const view = productView(productOfSnapshot(stored.d.product), revision);
        return query.status === undefined || view.status === query.status ? [view] : [];
      });
      return pageOf(items, page.nextCursor);
    });
  }

  reservations(scope: ReadScope, query: ReservationListOptions): Promise<Page<ReservationView>> {
    return this.guarded(async () => {
      const indexScope =
        scope.kind === "all" ? scope : { kind: scope.kind, id: scope.kind === "customer" ? scope.customerId : scope.sellerId };
      const page = await this.query<ListDocument>(
        this.lists,
        LIST_INDEXES.reservations(indexScope, query.status, query.productId),
        (id) => `reservation:${id}`,
        limitOf(query.limit),
        query.after,
      );
      const items = page.found.flatMap(({ member, stored }) => {
        const view = reservationItem(member, stored);
        if (!view || (query.status !== undefined && view.status !== query.status)) return [];
        if (query.productId !== undefined && view.productId !== query.productId) return [];
        if (scope.kind === "customer" && view.customerId !== scope.customerId) return [];
        if (scope.kind === "seller" && view.sellerId !== scope.sellerId) return [];
        return [view];
      });
      return pageOf(items, page.nextCursor);
    });
  }

  payments(scope: Exclude<ReadScope, { kind: "seller" }>, query: ListOptions): Promise<Page<PaymentView>> {
    return this.guarded(async () => {
      const index = LIST_INDEXES.payments(scope.kind === "customer" ? scope.customerId : undefined);
      const page = await this.query<ListDocument>(this.lists, index, (id) => `reservation:${id}`, limitOf(query.limit), query.after);
      const items = page.found.flatMap(({ member, stored }): PaymentView[] => {
        if (stored.d.kind !== "reservation") return [];
        const payment = requestedPayment(stored.d);
        const revision = stored.c[streamOf(paymentAggregate, member)];
        if (!payment || revision === undefined) return [];
        if (scope.kind === "customer" && payment.customerId !== scope.customerId) return [];
        return [paymentView(payment, revision)];
      });
      return pageOf(items, page.nextCursor);
    });
  }

  myPage(customerId: string, query: ListOptions): Promise<MyPageView> {
    return this.guarded(async () => {
      const page = await this.query<ReservationDocument>(
        this.mypage,
        myPageIndex(customerId),
        (id) => `reservation:${id}`,
        limitOf(query.limit),
        query.after,
      );
      const reservations = page.found.flatMap(({ stored }): MyPageEntry[] => {
        const entry = myPageEntryOf(stored, customerId);
        return entry ? [entry] : [];
      });
      const updatedAt = reservations.reduce<string | null>(
        (latest, entry) => (latest === null || entry.updatedAt > latest ? entry.updatedAt : latest),
        null,
      );
      return { customerId, reservations, updatedAt, nextCursor: page.nextCursor };
    });
  }

  notifications(scope: ReadScope, query: NotificationListOptions): Promise<Page<NotificationView>> {
    return this.guarded(() =>
      query.reservationId === undefined
        ? this.notificationsInIndex(scope, limitOf(query.limit), query.after)
        : this.notificationsOfReservation(scope, query.reservationId, limitOf(query.limit), query.after),
    );
  }

  /** One reservation's notifications are one document: paged here, in the indexes' order. */
  private async notificationsOfReservation(
    scope: ReadScope,
    reservationId: string,
    limit: number,
    after: ListPosition | undefined,
  ): Promise<Page<NotificationView>> {
    const stored = await this.getDocument<NotificationsDocument>(this.notificationKeys, `notifications:${reservationId}`);
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

  private async notificationsInIndex(scope: ReadScope, limit: number, after: ListPosition | undefined): Promise<Page<NotificationView>> {
    const page = await this.query<NotificationsDocument>(
      this.notificationKeys,
      notificationIndexOf(scope),
      (member) => `notifications:${member.split("/")[0] ?? ""}`,
      limit,
      after,
    );
    const items = page.found.flatMap(({ member, stored }) => {
      const id = member.split("/")[1];
      const notification = notificationsOf(stored).find((candidate) => candidate.id === id);
      return notification && visibleIn(scope, notification) ? [notification] : [];
    });
    return pageOf(items, page.nextCursor);
  }

  private unavailable(error: unknown): ReadModelUnavailableError {
    return new ReadModelUnavailableError(`the read models cannot be read right now (${describe(error)})`, this.retryAfterSeconds, {
      cause: error,
    });
  }

  private async guarded<T>(work: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(this.unavailable(new Error(`Redis did not answer within ${this.timeoutMs} ms`))), this.timeoutMs);
    });
    try {
      return await Promise.race([work(), timeout]);
    } catch (error) {
      if (error instanceof ReadModelUnavailableError) throw error;
      if (isTransientFailure(error) || this.redis.status !== "ready") throw this.unavailable(error);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One page of an index of the live version: the `limit` entries after `after`, and their
   * documents. A rebuild may switch versions between the reads; then the documents are gone, and
   * the query runs once more on the new one (positions do not depend on the version).
   */
  private async query<D>(
    keys: ProjectionKeys,
    index: string,
    docIdOf: (member: string) => string,
    limit: number,
    after: ListPosition | undefined,
  ): Promise<FoundPage<D>> {
    for (let attempt = 0; ; attempt += 1) {
      const version = await this.redis.get(keys.live);
      if (version === null) return { found: [], nextCursor: null };
      // One entry more than asked says whether another page follows.
      const entries = await readIndexPage(this.redis, keys.index(version, index), limit + 1, after);
      const shown = entries.slice(0, limit);
      const last = shown.at(-1);
      const nextCursor = entries.length > limit && last !== undefined ? encodeCursor(last) : null;
      if (shown.length === 0) return { found: [], nextCursor: null };
      const raws = await this.redis.mget(shown.map(({ member }) => keys.doc(version, docIdOf(member))));
      if (attempt === 0 && raws.some((raw) => raw === null) && (await this.redis.get(keys.live)) !== version) continue;
      const found = shown.flatMap(({ member }, i) => {
        const raw = raws[i];
        return typeof raw === "string" ? [{ member, stored: parseStored<D>(raw) }] : [];
      });
      return { found, nextCursor };
    }
  }

  private async getDocument<D>(keys: ProjectionKeys, docId: string): Promise<StoredDocument<D> | undefined> {
    const version = await this.redis.get(keys.live);
    if (version === null) return undefined;
    const raw = await this.redis.get(keys.doc(version, docId));
    return raw === null ? undefined : parseStored<D>(raw);
  }
}

export const createRedisReadModelStore = (redis: Redis, options: RedisReadModelOptions = {}): ReadModelStore =>
  new RedisReadModelStore(redis, options);

/** The read-side port for the HTTP edge: authorization in front of the Redis store. */
export const createRedisReadModels = (redis: Redis, options: RedisReadModelOptions = {}): ReadModels =>
  createReadModels(createRedisReadModelStore(redis, options));
