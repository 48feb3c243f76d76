/**
 * The read side as the HTTP edge sees it: the lists, My Page and notifications, served from read
 * models that projections keep (eventually consistent, API.md "Read models"). Who may see what is
 * decided here, from the actor; the store only answers scoped queries.
 */
import type { NotificationAudience, NotificationKind } from "../domain/index.js";
import { AccessDeniedError } from "./errors.js";
import type { ListPosition, Page } from "./list-cursor.js";
import type { Actor, PaymentStatus, PaymentView, ProductStatus, ProductView, ReservationStatus, ReservationView } from "./ports.js";

/** Largest number of items one list answer carries. */
export const MAX_LIST_ITEMS = 1000;
/** Items per page when `limit` is not given (API.md "Additions"). */
export const DEFAULT_LIST_ITEMS = 100;

// The domain's enums (src/domain/notifications.ts), the one list of each.
export type { NotificationAudience, NotificationKind } from "../domain/index.js";

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface NotificationView {
  readonly id: string;
  readonly audience: NotificationAudience;
  /** The reservation's customer, whichever the audience. */
  readonly customerId: string;
  /** The product's seller; absent on notifications recorded before sellers were notified. */
  readonly sellerId?: string;
  readonly reservationId: string;
  readonly kind: NotificationKind;
  readonly message: string;
  readonly createdAt: string;
  readonly deliveries: readonly { readonly channel: string; readonly status: DeliveryStatus }[];
}

export interface MyPageEntry {
  readonly reservationId: string;
  readonly productId: string;
  readonly productName: string;
  readonly quantity: number;
  readonly amount: number;
  readonly currency: string;
  readonly reservationStatus: ReservationStatus;
  /** Null until the payment has been requested. */
  readonly paymentStatus: PaymentStatus | null;
  readonly currentStep: string | null;
  readonly updatedAt: string;
}

export interface MyPageView {
  readonly customerId: string;
  /** Newest first. */
  readonly reservations: readonly MyPageEntry[];
  /** The latest change of any entry shown; null while the page is empty. */
  readonly updatedAt: string | null;
  /** Where the next page of reservations starts; null on the last. */
  readonly nextCursor: string | null;
}

/**
 * My Page shows this many reservations when no `limit` is given: all it showed before it was
 * paged, so that clients that never page see what they always saw.
 */
export const MY_PAGE_DEFAULT_ITEMS = MAX_LIST_ITEMS;

export interface ListOptions {
  /** 1..MAX_LIST_ITEMS; DEFAULT_LIST_ITEMS when absent. */
  readonly limit?: number;
  /** Start strictly after this position (from a cursor); from the newest when absent. */
  readonly after?: ListPosition;
}

/** Whose items a list shows. */
export type ReadScope =
  | { readonly kind: "all" }
  | { readonly kind: "customer"; readonly customerId: string }
  | { readonly kind: "seller"; readonly sellerId: string };

/** What the edge asks of the read side. Lists are newest first, one page at a time. */
export interface ReadModels {
  /** Anyone. */
  listProducts(query: ListOptions & { readonly status?: ProductStatus }): Promise<Page<ProductView>>;
  /** A customer's own, a seller's on their products, an admin's all. */
  listReservations(actor: Actor, query: ReservationListOptions): Promise<Page<ReservationView>>;
  /** A customer's own, an admin's all; sellers are refused. */
  listPayments(actor: Actor, query: ListOptions): Promise<Page<PaymentView>>;
  /** Customers only: their own page. */
  myPage(actor: Actor, query?: ListOptions): Promise<MyPageView>;
  /** A customer's own, a seller's own (about their products), an admin's all. */
  listNotifications(actor: Actor, query: NotificationListOptions): Promise<Page<NotificationView>>;
}

export type ReservationListOptions = ListOptions & { readonly status?: ReservationStatus; readonly productId?: string };
export type NotificationListOptions = ListOptions & { readonly reservationId?: string };

/** The scoped queries a read-model store answers; `createReadModels` puts authorization in front. */
export interface ReadModelStore {
  products(query: ListOptions & { readonly status?: ProductStatus }): Promise<Page<ProductView>>;
  reservations(scope: ReadScope, query: ReservationListOptions): Promise<Page<ReservationView>>;
  payments(scope: Exclude<ReadScope, { kind: "seller" }>, query: ListOptions): Promise<Page<PaymentView>>;
  myPage(customerId: string, query: ListOptions): Promise<MyPageView>;
  /** Scope "customer": the customer's own; "seller": the seller's own; "all": every audience. */
  notifications(scope: ReadScope, query: NotificationListOptions): Promise<Page<NotificationView>>;
}

/** The read-model store (Redis) cannot answer right now: 503 with `Retry-After`; the write side is unaffected. */
export class ReadModelUnavailableError extends Error {
  override readonly name = "ReadModelUnavailableError";
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

const customerOrAdminScope = (actor: Actor, what: string): Exclude<ReadScope, { kind: "seller" }> => {
  if (actor.role === "admin") return { kind: "all" };
  if (actor.role === "customer") return { kind: "customer", customerId: actor.id };
  throw new AccessDeniedError(`only customers and admins may list ${what}`);
};

/** What is the actor's own: a customer's, a seller's (their products'), or everything for an admin. */
const ownScope = (actor: Actor): ReadScope =>
  actor.role === "admin"
    ? { kind: "all" }
    : actor.role === "seller"
      ? { kind: "seller", sellerId: actor.id }
      : { kind: "customer", customerId: actor.id };

/** Role and ownership for the read side, in front of a store. */
export const createReadModels = (store: ReadModelStore): ReadModels => ({
  listProducts: async (query) => store.products(query),

  listReservations: async (actor, query) => store.reservations(ownScope(actor), query),

  listPayments: async (actor, query) => store.payments(customerOrAdminScope(actor, "payments"), query),

  myPage: async (actor, query = {}) => {
    if (actor.role !== "customer") throw new AccessDeniedError("My Page is a customer's own page");
    return store.myPage(actor.id, { ...query, limit: query.limit ?? MY_PAGE_DEFAULT_ITEMS });
  },

  listNotifications: async (actor, query) => store.notifications(ownScope(actor), query),
});
