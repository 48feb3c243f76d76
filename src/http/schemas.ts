import { extendZodWithOpenApi } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { decodeCursor, MAX_CURSOR_LENGTH } from "../application/list-cursor.js";
import { DEFAULT_LIST_ITEMS, DELIVERY_STATUSES, MAX_LIST_ITEMS } from "../application/read-models.js";
import {
  attemptOutcome,
  notificationAudience,
  notificationKind,
  paymentStatus,
  productKind,
  productStatus,
  reservationStatus,
} from "../domain/index.js";

// Adds `.openapi()`; idempotent, and must run before any schema below is built.
extendZodWithOpenApi(z);

/** Server-made ids. `guid` like the domain: name-derived (non-RFC-variant) ids are valid ids too. */
export const Id = z.guid().openapi({ example: "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10" });

export const IdParams = z.object({ id: Id }).strict();

// The domain's enums, so that a status or kind added there reaches the contract without a second list.
const ProductStatus = z.enum(productStatus.options).openapi("ProductStatus");
// Inline (not components): the generator drops `default` and `null` beside a `$ref`.
const ProductKind = z.enum(productKind.options);
const ReservationStatus = z.enum(reservationStatus.options).openapi("ReservationStatus");
const PaymentStatus = z.enum(paymentStatus.options);
const PaymentAttemptOutcome = z.enum(attemptOutcome.options);

/** Names and steps must say something: whitespace alone is refused here, with a field error, as the domain would. */
const notBlank = (text: string): boolean => text.trim().length > 0;
const ProductName = z.string().min(1).max(200).refine(notBlank, "must not be blank");
const Capacity = z.int().min(1).max(1_000_000);
const UnitPrice = z.int().min(0).max(1_000_000_000).openapi({ description: "integer, minor units of `currency`" });
const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code such as KRW")
  .openapi({ example: "KRW" });
const StepName = z.string().min(1).max(40).refine(notBlank, "must not be blank");

const uniqueItems = (items: readonly string[]) => new Set(items).size === items.length;

// ---- requests ----

export const RegisterProductBody = z
  .object({
    name: ProductName,
    capacity: Capacity,
    unitPrice: UnitPrice,
    currency: Currency.default("KRW"),
    kind: ProductKind.default("sale"),
    sellerAcceptance: z.boolean().default(false),
    fulfilmentSteps: z
      .array(StepName)
      .max(10)
      .refine(uniqueItems, "step names must be unique")
      .default([])
      .openapi({ uniqueItems: true, example: ["cooking", "cooked", "picked-up", "delivered"] }),
    holdTtlSeconds: z.int().min(10).max(86_400).default(900),
    perCustomerLimit: z.int().min(1).max(1_000_000).optional().openapi({
      description: "units one customer may hold and reserve at once (a cap on seats per buyer); beyond it 409 `per-customer-limit`",
      example: 4,
    }),
  })
  .strict()
  .openapi("RegisterProduct");

export const UpdateProductBody = z
  .object({ name: ProductName.optional(), capacity: Capacity.optional(), unitPrice: UnitPrice.optional() })
  .strict()
  .openapi("UpdateProduct");

export const PlaceReservationBody = z
  .object({
    productId: Id,
    quantity: z.int().min(1).max(10_000),
    paymentToken: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .openapi({ description: "when given, the payment is charged right after placing", example: "tok_ok" }),
    unitPrice: z.int().min(0).max(1_000_000_000).optional().openapi({
      description:
        "the unit price the customer agreed to; 409 `price-changed` when the product's price differs. Clients that charge automatically (with `paymentToken`) should always send it.",
      example: 1500,
    }),
  })
  .strict()
  .openapi("PlaceReservation");

/** Commands without fields: an empty body, `{}` or no body at all. */
export const EmptyBody = z.object({}).strict().openapi("EmptyBody");

export const RejectReservationBody = z
  .object({ reason: z.string().max(500).optional() })
  .strict()
  .openapi("RejectReservation");

export const ProgressReservationBody = z.object({ step: StepName }).strict().openapi("ProgressReservation");

export const IdempotencyKeyHeader = z.object({ "idempotency-key": z.string().min(1).max(200).optional() });

export const IfMatchHeader = z.object({
  "if-match": z.string().optional().openapi({ description: 'a revision ETag such as W/"3", or *', example: 'W/"3"' }),
});

export const PayPaymentBody = z
  .object({ token: z.string().min(1).max(200).openapi({ description: "the payment method's token", example: "tok_ok" }) })
  .strict()
  .openapi("PayPayment");

/** An addition to API.md: lists answer at most `limit` items, newest first. */
const Limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(MAX_LIST_ITEMS)
  .optional()
  .openapi({ description: `at most this many items, newest first (default ${DEFAULT_LIST_ITEMS}, at most ${MAX_LIST_ITEMS})` });

/** An addition to API.md: where the previous page stopped, as its `nextCursor` (or `next` link) said. */
const Cursor = z
  .string()
  .max(MAX_CURSOR_LENGTH)
  .refine((cursor) => decodeCursor(cursor) !== undefined, "not a cursor this API made")
  .optional()
  .openapi({
    description: "the `nextCursor` of the previous page (opaque); absent for the first page",
    example: "WzE3MzU3MjIwMDAwMDAsIjBiNGMyZjRlIl0",
  });

export const ProductListQuery = z.object({ status: ProductStatus.optional(), limit: Limit, cursor: Cursor }).strict();
export const ReservationListQuery = z
  .object({
    status: ReservationStatus.optional(),
    productId: Id.optional().openapi({ description: "only reservations of this product (within what the caller may see)" }),
    limit: Limit,
    cursor: Cursor,
  })
  .strict();
export const PaymentListQuery = z.object({ limit: Limit, cursor: Cursor }).strict();
export const NotificationListQuery = z.object({ reservationId: Id.optional(), limit: Limit, cursor: Cursor }).strict();
/** `GET /my-page` takes no query. */
export const NoQuery = z.object({}).strict();

/** My Page pages its reservations like the lists, but shows all it can (1000) unless told. */
export const MyPageQuery = z
  .object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_LIST_ITEMS)
      .optional()
      .openapi({ description: `at most this many reservations, newest first (default and maximum ${MAX_LIST_ITEMS})` }),
    cursor: Cursor,
  })
  .strict();

// ---- responses ----

const Timestamp = z.iso.datetime({ offset: true }).openapi({ example: "2025-01-01T09:00:00.000Z" });

export const ProductBody = z
  .object({
    id: Id,
    sellerId: z.string(),
    name: z.string(),
    capacity: z.int(),
    available: z.int(),
    held: z.int(),
    committed: z.int(),
    status: ProductStatus,
    unitPrice: z.int(),
    currency: z.string(),
    kind: ProductKind,
    sellerAcceptance: z.boolean(),
    fulfilmentSteps: z.array(z.string()),
    holdTtlSeconds: z.int(),
    perCustomerLimit: z.int().optional().openapi({ description: "present when the product limits units per customer" }),
    revision: z.int(),
  })
  .openapi("Product");

export const ReservationBody = z
  .object({
    id: Id,
    productId: Id,
    productName: z.string(),
    customerId: z.string(),
    sellerId: z.string(),
    quantity: z.int(),
    amount: z.int(),
    currency: z.string(),
    status: ReservationStatus,
    paymentId: Id,
    paymentStatus: PaymentStatus.nullable(),
    currentStep: z.string().nullable(),
    expiresAt: Timestamp,
    createdAt: Timestamp,
    updatedAt: Timestamp,
    revision: z.int(),
  })
  .openapi("Reservation");

export const PaymentBody = z
  .object({
    id: Id,
    reservationId: Id,
    customerId: z.string(),
    amount: z.int(),
    currency: z.string(),
    status: PaymentStatus,
    attempts: z.array(z.object({ at: Timestamp, outcome: PaymentAttemptOutcome, reason: z.string().optional() })),
    updatedAt: Timestamp,
    revision: z.int(),
  })
  .openapi("Payment");

/** What every list answer adds to its `items`: where the next page starts (API.md "Additions"). */
const PageLinks = {
  next: z.string().nullable().openapi({
    description: "the URL (path and query) of the next page, or null on the last one",
    example: "/products?limit=100&cursor=WzE3MzU3MjIwMDAwMDAsIjBiNGMyZjRlIl0",
  }),
  nextCursor: z.string().nullable().openapi({ description: "the `cursor` of the next page, or null on the last one" }),
};

export const ProductListBody = z.object({ items: z.array(ProductBody), ...PageLinks }).openapi("ProductList");
export const ReservationListBody = z.object({ items: z.array(ReservationBody), ...PageLinks }).openapi("ReservationList");
export const PaymentListBody = z.object({ items: z.array(PaymentBody), ...PageLinks }).openapi("PaymentList");

export const MyPageBody = z
  .object({
    customerId: z.string(),
    reservations: z.array(
      z.object({
        reservationId: Id,
        productId: Id,
        productName: z.string(),
        quantity: z.int(),
        amount: z.int(),
        currency: z.string(),
        reservationStatus: ReservationStatus,
        paymentStatus: PaymentStatus.nullable(),
        currentStep: z.string().nullable(),
        updatedAt: Timestamp,
      }),
    ),
    updatedAt: Timestamp.nullable().openapi({ description: "the latest change of any entry shown; null while the page is empty" }),
    ...PageLinks,
  })
  .openapi("MyPage", { description: "The customer's reservations, newest first (a read model: eventually consistent)" });

export const NotificationBody = z
  .object({
    id: Id,
    audience: z
      .enum(notificationAudience.options)
      .openapi({ description: "whom it is for: the reservation's customer, or the seller of its product" }),
    customerId: z.string().openapi({ description: "the reservation's customer, whichever the audience" }),
    sellerId: z
      .string()
      .optional()
      .openapi({ description: "the product's seller; absent on notifications recorded before sellers were notified" }),
    reservationId: Id,
    kind: z.enum(notificationKind.options),
    message: z.string(),
    createdAt: Timestamp,
    deliveries: z.array(z.object({ channel: z.string(), status: z.enum(DELIVERY_STATUSES) })),
  })
  .openapi("Notification");

export const NotificationListBody = z.object({ items: z.array(NotificationBody), ...PageLinks }).openapi("NotificationList");

export const ProblemBody = z
  .looseObject({
    type: z.url(),
    title: z.string(),
    status: z.int(),
    detail: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem", { description: "RFC 9457 problem details; rule refusals add members such as `available`" });

export const LiveBody = z.object({ status: z.literal("ok") }).openapi("Liveness");

export const ReadyBody = z
  .object({
    status: z.enum(["ok", "unavailable"]),
    dependencies: z.record(z.string(), z.object({ up: z.boolean(), detail: z.string().optional() })),
  })
  .openapi("Readiness");

export type ProductResponse = z.output<typeof ProductBody>;
export type ReservationResponse = z.output<typeof ReservationBody>;
export type ReadyResponse = z.output<typeof ReadyBody>;
export type PaymentResponse = z.output<typeof PaymentBody>;
export type MyPageResponse = z.output<typeof MyPageBody>;
export type NotificationResponse = z.output<typeof NotificationBody>;
