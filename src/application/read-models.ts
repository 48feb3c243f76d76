/**
 * The read side as the HTTP edge sees it: the lists, My Page and notifications, served from read
 * models that projections keep (eventually consistent, API.md "Read models"). Who may see what is
 * decided here, from the actor; the store only answers scoped queries.
 */
import { AccessDeniedError } from "./errors.js";
import type {
  Actor,
  PaymentStatus,
  PaymentView,
  ProductStatus,
  ProductView,
  ReservationStatus,
  ReservationView,
} from "./ports.js";

/** Default and largest number of items one list answer carries. */
export const MAX_LIST_ITEMS = 1000;

/**
 * Every notification kind: one per customer-visible status change (projections/README.md says
 * which event causes which, and why `reservation.placed` is not sent when a token was given).
 */
export const NOTIFICATION_KINDS = [
  "reservation.placed",
  "reservation.confirmed",
  "reservation.awaiting-acceptance",
  "reservation.accepted",
  "reservation.rejected",
  "reservation.in-progress",
  "reservation.in-use",
  "reservation.completed",
  "reservation.cancelled",
  "reservation.expired",
  "payment.paid",
  "payment.declined",
  "payment.voided",
  "payment.refunded",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface NotificationView {
  readonly id: string;
  readonly customerId: string;
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
  /** The latest change of any entry; null while the page is empty. */
  readonly updatedAt: string | null;
}

export interface ListOptions {
  /** 1..MAX_LIST_ITEMS; MAX_LIST_ITEMS when absent. */
  readonly limit?: number;
}

/** Whose items a list shows. */
export type ReadScope =
  | { readonly kind: "all" }
  | { readonly kind: "customer"; readonly customerId: string }
  | { readonly kind: "seller"; readonly sellerId: string };

/** What the edge asks of the read side. Lists are newest first. */
export interface ReadModels {
  /** Anyone. */
  listProducts(query: ListOptions & { readonly status?: ProductStatus }): Promise<ProductView[]>;
  /** A customer's own, a seller's on their products, an admin's all. */
  listReservations(actor: Actor, query: ListOptions & { readonly status?: ReservationStatus }): Promise<ReservationView[]>;
  /** A customer's own, an admin's all; sellers are refused. */
  listPayments(actor: Actor, query: ListOptions): Promise<PaymentView[]>;
  /** Customers only: their own page. */
  myPage(actor: Actor): Promise<MyPageView>;
  /** A customer's own, an admin's all; sellers are refused. */
  listNotifications(actor: Actor, query: ListOptions & { readonly reservationId?: string }): Promise<NotificationView[]>;
}

/** The scoped queries a read-model store answers; `createReadModels` puts authorization in front. */
export interface ReadModelStore {
  products(query: ListOptions & { readonly status?: ProductStatus }): Promise<ProductView[]>;
  reservations(scope: ReadScope, query: ListOptions & { readonly status?: ReservationStatus }): Promise<ReservationView[]>;
  payments(scope: Exclude<ReadScope, { kind: "seller" }>, query: ListOptions): Promise<PaymentView[]>;
  myPage(customerId: string): Promise<MyPageView>;
  notifications(
    scope: Exclude<ReadScope, { kind: "seller" }>,
    query: ListOptions & { readonly reservationId?: string },
  ): Promise<NotificationView[]>;
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
  if (actor.role === "customer") return { kind: "customer", customerId: actor.userId };
  throw new AccessDeniedError(`only customers and admins may list ${what}`);
};

/** Role and ownership for the read side, in front of a store. */
export const createReadModels = (store: ReadModelStore): ReadModels => ({
  listProducts: async (query) => store.products(query),

  listReservations: async (actor, query) => {
    const scope: ReadScope =
      actor.role === "admin"
        ? { kind: "all" }
        : actor.role === "seller"
          ? { kind: "seller", sellerId: actor.userId }
          : { kind: "customer", customerId: actor.userId };
    return store.reservations(scope, query);
  },

  listPayments: async (actor, query) => store.payments(customerOrAdminScope(actor, "payments"), query),

  myPage: async (actor) => {
    if (actor.role !== "customer") throw new AccessDeniedError("My Page is a customer's own page");
    return store.myPage(actor.userId);
  },

  listNotifications: async (actor, query) => store.notifications(customerOrAdminScope(actor, "notifications"), query),
});
