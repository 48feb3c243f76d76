import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig, type RouteConfig } from "@asteasolutions/zod-to-openapi";
import { z } from "zod";
import { ROLES } from "./auth.js";
import { PROBLEM_CONTENT_TYPE } from "./problem.js";
import { RESERVATION_COMMANDS } from "./routes/reservations.js";
import {
  IdempotencyKeyHeader,
  IdParams,
  IfMatchHeader,
  LiveBody,
  MyPageBody,
  MyPageQuery,
  NotificationListBody,
  NotificationListQuery,
  PaymentBody,
  PaymentListBody,
  PaymentListQuery,
  PayPaymentBody,
  PlaceReservationBody,
  ProblemBody,
  ProductBody,
  ProductListBody,
  ProductListQuery,
  ReadyBody,
  RegisterProductBody,
  ReservationBody,
  ReservationListBody,
  ReservationListQuery,
  UpdateProductBody,
} from "./schemas.js";

const BEARER = "bearerAuth";
const METRICS = "metricsToken";

const PROBLEM_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: "Invalid input (`validation-failed` with `errors`, `invalid-json`, `invalid-body`, `invalid-if-match`, or a rule's `invalid-command`)",
  401: "No or bad bearer token (`WWW-Authenticate: Bearer`)",
  402: "`payment-declined`: the provider declined the charge (recorded as an attempt; the payment stays pending)",
  403: "Wrong role, or not the owner",
  404: "Unknown id",
  409: "A business rule refused the command; `type` names the rule",
  412: "`If-Match` did not match the current revision",
  413: "Body too large",
  415: "Body is not JSON",
  422: "`idempotency-key-reused`: this user already used the `Idempotency-Key` for a different request (`reservationId` names its reservation; a payment's id is its reservation's)",
  503: "Overloaded or a dependency is down; retry after `Retry-After` seconds",
};

function problems(...statuses: readonly number[]): Record<string, ResponseConfig> {
  return Object.fromEntries(
    statuses.map((status) => [
      String(status),
      {
        description: PROBLEM_DESCRIPTIONS[status] ?? "Problem",
        content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemBody } },
      },
    ]),
  );
}

const readModelNote =
  "A read model: eventually consistent, normally within a fraction of a second; 503 `read-model-unavailable` (with `Retry-After`) while Redis is unreachable.";

const pagingNote =
  "Paged newest first: `limit` items (default 100, at most 1000) and `next` (this request with the next page's `cursor`, or null on the last page). " +
  "Cursors are opaque positions, so items added while paging never shift a page; a cursor this API did not make is 400 `validation-failed`.";

const etagHeader = { ETag: { description: 'The revision as a weak tag, W/"<revision>"', schema: { type: "string" as const } } };
const locationHeader = { Location: { description: "Where the new resource lives", schema: { type: "string" as const } } };

function json(schema: z.ZodType, description: string, headers: ResponseConfig["headers"] = etagHeader): ResponseConfig {
  return { description, headers, content: { "application/json": { schema } } };
}

function jsonBody(schema: z.ZodType, required = true) {
  return { required, content: { "application/json": { schema } } };
}

function secured(roles: readonly string[], description?: string): Pick<RouteConfig, "security" | "description"> {
  const who = `Roles: ${roles.join(", ")}.`;
  return { security: [{ [BEARER]: [] }], description: description === undefined ? who : `${who} ${description}` };
}

/** The bearer token of the API and the metrics token. */
export function registerSecuritySchemes(registry: OpenAPIRegistry): void {
  registry.registerComponent("securitySchemes", BEARER, {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: `HS256, claims \`sub\` and \`role\` (${ROLES.join(" | ")}); \`exp\` is honoured`,
  });
  registry.registerComponent("securitySchemes", METRICS, {
    type: "http",
    scheme: "bearer",
    description: "`METRICS_TOKEN`, when the service is configured with one",
  });
}

/** `/products`: register, list, read, update, withdraw. */
export function registerProductPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "post",
    path: "/products",
    operationId: "registerProduct",
    tags: ["products"],
    summary: "Register a product",
    ...secured(["seller", "admin"]),
    request: { body: jsonBody(RegisterProductBody) },
    responses: {
      201: json(ProductBody, "The new product", { ...etagHeader, ...locationHeader }),
      ...problems(400, 401, 403, 413, 415, 503),
    },
  });
  registry.registerPath({
    method: "get",
    path: "/products",
    operationId: "listProducts",
    // Public: no credentials.
    security: [],
    tags: ["products"],
    summary: "List products (anyone), newest first",
    description: `${readModelNote} ${pagingNote}`,
    request: { query: ProductListQuery },
    responses: { 200: json(ProductListBody, "The products", {}), ...problems(400, 503) },
  });
  registry.registerPath({
    method: "get",
    path: "/products/{id}",
    operationId: "getProduct",
    // Public: no credentials.
    security: [],
    tags: ["products"],
    summary: "Read a product (anyone)",
    request: { params: IdParams },
    responses: { 200: json(ProductBody, "The product"), ...problems(400, 404, 503) },
  });
  registry.registerPath({
    method: "patch",
    path: "/products/{id}",
    operationId: "updateProduct",
    tags: ["products"],
    summary: "Change name, capacity or price",
    ...secured(["seller (owner)", "admin"], "409 `capacity-below-allocated` when capacity would fall below held + committed."),
    request: { params: IdParams, headers: IfMatchHeader, body: jsonBody(UpdateProductBody) },
    responses: { 200: json(ProductBody, "The product"), ...problems(400, 401, 403, 404, 409, 412, 413, 415, 503) },
  });
  registry.registerPath({
    method: "delete",
    path: "/products/{id}",
    operationId: "withdrawProduct",
    tags: ["products"],
    summary: "Withdraw a product",
    ...secured(["seller (owner)", "admin"], "409 `units-in-use` while units are held or rented out."),
    request: { params: IdParams, headers: IfMatchHeader },
    responses: { 200: json(ProductBody, "The withdrawn product"), ...problems(400, 401, 403, 404, 409, 412, 503) },
  });
}

/** `/reservations`: place, list, read, and one path per reservation command. */
export function registerReservationPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "post",
    path: "/reservations",
    operationId: "placeReservation",
    tags: ["reservations"],
    summary: "Reserve units of a product",
    ...secured(
      ["customer"],
      "409 `insufficient-availability` (with `available`), `product-withdrawn`, `per-customer-limit` (with `limit`, `allocated`, `requested`), `unpaid-holds-limit` (with `limit`: the customer already keeps `MAX_UNPAID_HOLDS_PER_CUSTOMER` unpaid reservations across products), or `price-changed` (with `unitPrice` and `agreedUnitPrice`) when `unitPrice` is given and differs. " +
        "A repeated `Idempotency-Key` from the same user answers 200 with the first result and changes nothing; " +
        "the same key with a different request (product, quantity, or whether a payment token is given) answers 422 `idempotency-key-reused` and holds nothing.",
    ),
    request: { headers: IdempotencyKeyHeader, body: jsonBody(PlaceReservationBody) },
    responses: {
      201: json(ReservationBody, "The new reservation", { ...etagHeader, ...locationHeader }),
      200: json(ReservationBody, "The reservation first made with this Idempotency-Key", { ...etagHeader, ...locationHeader }),
      ...problems(400, 401, 403, 404, 409, 413, 415, 422, 503),
    },
  });
  registry.registerPath({
    method: "get",
    path: "/reservations",
    operationId: "listReservations",
    tags: ["reservations"],
    summary: "List reservations, newest first",
    ...secured(
      ["customer (own)", "seller (on own products)", "admin (all)"],
      `${readModelNote} ${pagingNote} \`productId\` narrows to one product within what the caller may see.`,
    ),
    request: { query: ReservationListQuery },
    responses: { 200: json(ReservationListBody, "The reservations", {}), ...problems(400, 401, 403, 503) },
  });
  registry.registerPath({
    method: "get",
    path: "/reservations/{id}",
    operationId: "getReservation",
    tags: ["reservations"],
    summary: "Read a reservation",
    ...secured(["its customer", "the product's seller", "admin"]),
    request: { params: IdParams },
    responses: { 200: json(ReservationBody, "The reservation"), ...problems(400, 401, 403, 404, 503) },
  });
  for (const command of RESERVATION_COMMANDS) {
    registry.registerPath({
      method: "post",
      path: `/reservations/{id}/${command.name}`,
      operationId: `${command.name}Reservation`,
      tags: ["reservations"],
      summary: command.summary,
      ...secured(command.roles, "Ownership is checked against the reservation."),
      request: { params: IdParams, headers: IfMatchHeader, body: jsonBody(command.body, false) },
      responses: {
        200: json(ReservationBody, "The reservation"),
        ...problems(400, 401, 403, 404, 409, 412, 413, 415, 503),
      },
    });
  }
}

/** `/payments`: list, read, pay. */
export function registerPaymentPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "get",
    path: "/payments",
    operationId: "listPayments",
    tags: ["payments"],
    summary: "List payments, newest first",
    ...secured(["customer (own)", "admin (all)"], `${readModelNote} ${pagingNote}`),
    request: { query: PaymentListQuery },
    responses: { 200: json(PaymentListBody, "The payments", {}), ...problems(400, 401, 403, 503) },
  });
  registry.registerPath({
    method: "get",
    path: "/payments/{id}",
    operationId: "getPayment",
    tags: ["payments"],
    summary: "Read a payment (its id is its reservation's id)",
    ...secured(["its customer", "admin"]),
    request: { params: IdParams },
    responses: { 200: json(PaymentBody, "The payment"), ...problems(400, 401, 403, 404, 503) },
  });
  registry.registerPath({
    method: "post",
    path: "/payments/{id}/pay",
    operationId: "payPayment",
    tags: ["payments"],
    summary: "Pay a pending payment",
    ...secured(
      ["its customer"],
      "Paying a paid payment answers 200 and changes nothing; a repeated `Idempotency-Key` answers what the first request answered, " +
        "and the same key with another token answers 422 `idempotency-key-reused` without paying (keys are remembered a day). " +
        "402 `payment-declined`; 409 `payment-not-payable` when voided or refunded, `too-many-payment-attempts` after 20 attempts; 503 `payment-provider-unavailable` " +
        "(with `Retry-After`) when the provider is down or its circuit is open — the payment stays pending.",
    ),
    request: { params: IdParams, headers: IdempotencyKeyHeader, body: jsonBody(PayPaymentBody) },
    responses: { 200: json(PaymentBody, "The paid payment"), ...problems(400, 401, 402, 403, 404, 409, 413, 415, 422, 503) },
  });
}

/** `/my-page` and `/notifications`, the read models beside the lists. */
export function registerReadModelPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "get",
    path: "/my-page",
    operationId: "getMyPage",
    tags: ["read models"],
    summary: "The customer's own reservations and payment states, newest first",
    ...secured(
      ["customer"],
      `${readModelNote} Its reservations page like the lists (\`limit\`, \`cursor\`, \`next\`), but all of them (up to 1000) are shown unless \`limit\` is given.`,
    ),
    request: { query: MyPageQuery },
    responses: { 200: json(MyPageBody, "My Page", {}), ...problems(400, 401, 403, 503) },
  });
  registry.registerPath({
    method: "get",
    path: "/notifications",
    operationId: "listNotifications",
    tags: ["read models"],
    summary: "Notifications, newest first: one per customer-visible status change; sellers' own for their products",
    ...secured(
      ["customer (own, audience `customer`)", "seller (own, audience `seller`: about their products)", "admin (all)"],
      "A customer gets one notification per visible status change of their reservation or payment. A seller gets " +
        "`seller.reservation.awaiting-acceptance` when a paid order waits for their acceptance and `seller.reservation.cancelled` " +
        `for every cancellation on their products. ${readModelNote} ${pagingNote}`,
    ),
    request: { query: NotificationListQuery },
    responses: { 200: json(NotificationListBody, "The notifications", {}), ...problems(400, 401, 403, 503) },
  });
}

/** Health, metrics and this document itself, for operators and tools. */
export function registerOperationsPaths(registry: OpenAPIRegistry): void {
  registry.registerPath({
    method: "get",
    path: "/health/live",
    operationId: "getLiveness",
    // Public: no credentials.
    security: [],
    tags: ["operations"],
    summary: "200 while the process runs",
    responses: { 200: json(LiveBody, "Alive", {}) },
  });
  registry.registerPath({
    method: "get",
    path: "/metrics",
    operationId: "getMetrics",
    // Loopback clients without credentials, or anyone presenting METRICS_TOKEN.
    security: [{}, { [METRICS]: [] }],
    tags: ["operations"],
    summary: "Prometheus metrics: commands in flight and shed, circuit breakers, command latency, subscription lag",
    responses: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: { type: "string" } } } } },
  });
  registry.registerPath({
    method: "get",
    path: "/health/ready",
    operationId: "getReadiness",
    // Public: no credentials.
    security: [],
    tags: ["operations"],
    summary: "200 when every dependency answers, else 503 with what is down",
    responses: { 200: json(ReadyBody, "Ready", {}), 503: json(ReadyBody, "Not ready", {}) },
  });
  registry.registerPath({
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    // Public: no credentials.
    security: [],
    tags: ["operations"],
    summary: "This document",
    responses: { 200: { description: "OpenAPI 3.1 document", content: { "application/json": { schema: z.looseObject({}) } } } },
  });

  registry.registerPath({
    method: "get",
    path: "/docs",
    operationId: "getApiDocs",
    security: [],
    tags: ["operations"],
    summary: "Interactive documentation of this API (Swagger UI, served by the service itself)",
    responses: { 200: { description: "An HTML page", content: { "text/html": { schema: { type: "string" } } } } },
  });
}

/** The whole contract of the edge, generated from the same zod schemas the routes validate with. */
export function buildOpenApiDocument() {
  const registry = new OpenAPIRegistry();
  registerSecuritySchemes(registry);
  registerProductPaths(registry);
  registerReservationPaths(registry);
  registerPaymentPaths(registry);
  registerReadModelPaths(registry);
  registerOperationsPaths(registry);

  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: "3.1.0",
    // Relative: the service that serves this document is the server, wherever it is deployed.
    servers: [{ url: "/", description: "the service serving this document" }],
    info: {
      title: "Reservations API",
      version: "1.0.0",
      description:
        "Event-sourced reservations. Errors are RFC 9457 application/problem+json; single resources carry " +
        '`revision` and a weak `ETag: W/"<revision>"`, and commands accept `If-Match` (412 on mismatch).',
    },
  });
}
