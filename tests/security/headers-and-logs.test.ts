/**
 * Security headers on every kind of answer, and no secrets in the logs.
 *
 * The service (ROLE=all: API, saga, notifier, projections in one process) logs through a pino
 * logger at `trace` whose destination collects every line. Requests carry bearer tokens (valid,
 * expired, forged), Basic credentials, cookies, tokens in the query string, payment tokens in
 * bodies (charged by the saga, paid over HTTP, declined, provider down, malformed, too large,
 * invalid); some succeed, many fail, one takes the unexpected-error path. No line may contain any
 * of those tokens, a `tok_` payment token, anything shaped like a JWT, or AUTH_SECRET.
 */
import { randomUUID } from "node:crypto";
import { FORWARDS, START } from "@eventstore/db-client";
import type { DestinationStream } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/application/ports.js";
import { createLogger } from "../../src/logger.js";
import {
  algNoneToken,
  eventually,
  expiredToken,
  send,
  startStack,
  validToken,
  wrongSignatureToken,
  type RawRequest,
  type RawResponse,
  type Stack,
} from "./support.js";

const lines: string[] = [];
const destination: DestinationStream = {
  write: (line: string) => {
    lines.push(line);
  },
};

const USERS = {
  customer: { sub: "hl-customer", role: "customer" },
  customer2: { sub: "hl-customer-2", role: "customer" },
  seller: { sub: "hl-seller", role: "seller" },
  admin: { sub: "hl-admin", role: "admin" },
} as const satisfies Record<string, { sub: string; role: Role }>;
type UserName = keyof typeof USERS;

const SECRET = `headers-and-logs-secret-${randomUUID()}`;
let stack: Stack;
const tokens = {} as Record<UserName, string>;
/** Every credential and payment token a request carried: none may be logged. */
const secrets = new Set<string>([SECRET]);
const answers: Array<{ readonly label: string; readonly response: RawResponse }> = [];

const bearer = (user: UserName): Record<string, string> => ({ authorization: `Bearer ${tokens[user]}` });
const json = { "content-type": "application/json" };

async function hit(label: string, request: RawRequest): Promise<RawResponse> {
  const response = await send(stack.url, request);
  answers.push({ label, response });
  return response;
}

const paymentToken = (what: string): string => {
  const token = `tok_${what}_${randomUUID().replaceAll("-", "")}`;
  secrets.add(token);
  return token;
};

beforeAll(async () => {
  stack = await startStack({ role: "all", secret: SECRET, logLevel: "trace", logger: createLogger({ level: "trace", destination }) });
  for (const [name, user] of Object.entries(USERS) as Array<[UserName, (typeof USERS)[UserName]]>) {
    tokens[name] = await validToken(SECRET, user.sub, user.role);
    secrets.add(tokens[name]);
  }
  const forged = [
    await expiredToken(SECRET, USERS.customer.sub, "customer"),
    await wrongSignatureToken(USERS.admin.sub, "admin"),
    algNoneToken(USERS.admin.sub, "admin"),
  ];
  for (const token of forged) secrets.add(token);
  const basic = Buffer.from(`hl-admin:password-${randomUUID()}`).toString("base64");
  secrets.add(basic);
  const cookie = `session-${randomUUID()}`;
  secrets.add(cookie);
  // The simulated provider's own tokens are payment tokens too.
  for (const token of ["tok_ok", "tok_declined", "tok_unavailable"]) secrets.add(token);

  // Products and reservations, with payment tokens the saga charges.
  const product = await hit("create product", {
    method: "POST",
    path: "/products",
    headers: { ...bearer("seller"), ...json },
    body: JSON.stringify({ name: "logs", capacity: 1000, unitPrice: 100 }),
  });
  expect(product.status, product.text).toBe(201);
  const productId = (product.json as { id: string }).id;
  const place = async (token: string | undefined, user: UserName = "customer") => {
    const response = await hit(`reserve with ${token ?? "no token"}`, {
      method: "POST",
      path: "/reservations",
      headers: { ...bearer(user), ...json, "idempotency-key": randomUUID() },
      body: JSON.stringify({ productId, quantity: 1, ...(token === undefined ? {} : { paymentToken: token }) }),
    });
    expect(response.status, response.text).toBe(201);
    return (response.json as { id: string }).id;
  };
  const charged = await place("tok_ok");
  const unknownToken = await place(paymentToken("unknown"));
  const providerDown = await place("tok_unavailable");
  const declined = await place("tok_declined");
  const unpaid = await place(undefined);
  const unpaid2 = await place(undefined);
  const unpaid3 = await place(undefined);

  // Wait for the saga to have done its work on each (charged, declined, failed, requested).
  await eventually(
    async () => {
      const paid = await send(stack.url, { method: "GET", path: `/payments/${charged}`, headers: bearer("customer") });
      expect(paid.json).toMatchObject({ status: "paid" });
      for (const id of [unknownToken, providerDown, declined]) {
        const payment = await send(stack.url, { method: "GET", path: `/payments/${id}`, headers: bearer("customer") });
        expect((payment.json as { attempts?: unknown[] }).attempts?.length ?? 0).toBeGreaterThan(0);
      }
      for (const id of [unpaid, unpaid2, unpaid3]) {
        const payment = await send(stack.url, { method: "GET", path: `/payments/${id}`, headers: bearer("customer") });
        expect(payment.status).toBe(200);
      }
    },
    { timeoutMs: 20_000 },
  );

  // Paying over HTTP: paid, declined, provider down, an unknown token.
  const pay = (id: string, token: string, label: string, extra: Record<string, string> = {}) =>
    hit(label, {
      method: "POST",
      path: `/payments/${id}/pay`,
      headers: { ...bearer("customer"), ...json, ...extra },
      body: JSON.stringify({ token }),
    });
  expect((await pay(unpaid, paymentToken("declined-by-provider"), "pay, declined")).status).toBe(402);
  expect((await pay(unpaid, "tok_declined", "pay, declined again", { "idempotency-key": randomUUID() })).status).toBe(402);
  expect((await pay(unpaid2, "tok_unavailable", "pay, provider down")).status).toBe(503);
  expect((await pay(unpaid3, "tok_ok", "pay, paid")).status).toBe(200);
  expect(
    (await pay(unpaid, paymentToken("by-the-wrong-customer"), "pay, not the owner", { authorization: `Bearer ${tokens.customer2}` }))
      .status,
  ).toBe(403);

  // Failing requests that carry tokens.
  const failing: Array<[string, RawRequest]> = [
    [
      "pay with an extra field",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), ...json },
        body: JSON.stringify({ token: paymentToken("invalid-body"), extra: true }),
      },
    ],
    [
      "pay with malformed JSON",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), ...json },
        body: `{"token":"${paymentToken("malformed")}"`,
      },
    ],
    [
      "pay with a 201-char token",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), ...json },
        body: JSON.stringify({ token: paymentToken("x".repeat(170)) }),
      },
    ],
    [
      "pay as text/plain",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), "content-type": "text/plain" },
        body: JSON.stringify({ token: paymentToken("text-plain") }),
      },
    ],
    [
      "pay with a body over the limit",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), ...json },
        body: JSON.stringify({ token: paymentToken("huge"), pad: "x".repeat(70_000) }),
      },
    ],
    [
      "pay with a corrupt gzip body",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), ...json, "content-encoding": "gzip" },
        body: JSON.stringify({ token: paymentToken("gzip") }),
      },
    ],
    // A known 500 (see tests/fuzz): the unexpected-error path logs the error; it must not log the request.
    [
      "pay with a corrupt brotli body",
      {
        method: "POST",
        path: `/payments/${unpaid}/pay`,
        headers: { ...bearer("customer"), ...json, "content-encoding": "br" },
        body: JSON.stringify({ token: paymentToken("brotli") }),
      },
    ],
    [
      "reserve with an invalid payment token",
      {
        method: "POST",
        path: "/reservations",
        headers: { ...bearer("customer"), ...json },
        body: JSON.stringify({ productId, quantity: 1, paymentToken: paymentToken("y".repeat(200)) }),
      },
    ],
    [
      "reserve too much with a payment token",
      {
        method: "POST",
        path: "/reservations",
        headers: { ...bearer("customer"), ...json },
        body: JSON.stringify({ productId, quantity: 10_000, paymentToken: paymentToken("too-much") }),
      },
    ],
    [
      "reserve an unknown product with a payment token",
      {
        method: "POST",
        path: "/reservations",
        headers: { ...bearer("customer"), ...json },
        body: JSON.stringify({ productId: randomUUID(), quantity: 1, paymentToken: paymentToken("unknown-product") }),
      },
    ],
    [
      "reserve as a seller with a payment token",
      {
        method: "POST",
        path: "/reservations",
        headers: { ...bearer("seller"), ...json },
        body: JSON.stringify({ productId, quantity: 1, paymentToken: paymentToken("seller") }),
      },
    ],
    ["an expired token", { method: "GET", path: "/my-page", headers: { authorization: `Bearer ${forged[0] ?? ""}` } }],
    ["a forged signature", { method: "GET", path: "/reservations", headers: { authorization: `Bearer ${forged[1] ?? ""}` } }],
    ["alg: none", { method: "POST", path: "/products", headers: { authorization: `Bearer ${forged[2] ?? ""}`, ...json }, body: "{}" }],
    ["Basic credentials", { method: "GET", path: "/my-page", headers: { authorization: `Basic ${basic}` } }],
    ["a cookie and no token", { method: "GET", path: "/my-page", headers: { cookie: `session=${cookie}` } }],
    ["a token in the query string", { method: "GET", path: `/my-page?access_token=${tokens.customer}`, headers: bearer("customer") }],
    ["a token in the query string of a public route", { method: "GET", path: `/products?access_token=${tokens.admin}` }],
    [
      "a token in a malformed Authorization header",
      { method: "GET", path: "/my-page", headers: { authorization: `Bearer ${tokens.customer} trailing` } },
    ],
    ["a token with the wrong role", { method: "GET", path: "/my-page", headers: bearer("seller") }],
    ["a token on an unknown route", { method: "DELETE", path: "/nothing-here", headers: bearer("admin") }],
    ["a token with an unsupported method", { method: "PUT", path: "/products", headers: bearer("admin") }],
  ];
  for (const [label, request] of failing) {
    const response = await hit(label, request);
    expect(response.status, `${label}: ${response.text}`).toBeGreaterThanOrEqual(400);
  }
  expect(
    (
      await hit("a cookie beside a valid token", {
        method: "GET",
        path: "/my-page",
        headers: { ...bearer("customer"), cookie: `session=${cookie}` },
      })
    ).status,
  ).toBe(200);
  // Cancelling a paid reservation makes the saga refund: more worker lines.
  expect((await hit("cancel", { method: "POST", path: `/reservations/${charged}/cancel`, headers: bearer("customer") })).status).toBe(200);
  await eventually(
    async () => {
      const payment = await send(stack.url, { method: "GET", path: `/payments/${charged}`, headers: bearer("customer") });
      expect(payment.json).toMatchObject({ status: "refunded" });
    },
    { timeoutMs: 20_000 },
  );
  // Let the notifier and projections log what they do with all of the above.
  await new Promise((resolve) => setTimeout(resolve, 1000));
}, 90_000);

afterAll(async () => {
  await stack?.stop();
}, 20_000);

describe("security headers", () => {
  const more: Array<[string, RawRequest]> = [
    ["a product list", { method: "GET", path: "/products" }],
    ["liveness", { method: "GET", path: "/health/live" }],
    ["readiness", { method: "GET", path: "/health/ready" }],
    ["metrics", { method: "GET", path: "/metrics" }],
    ["the OpenAPI document", { method: "GET", path: "/openapi.json" }],
    ["HEAD", { method: "HEAD", path: "/products" }],
    ["OPTIONS", { method: "OPTIONS", path: "/products" }],
    ["an unknown route", { method: "GET", path: "/no/such/route" }],
    ["a method not implemented anywhere", { method: "PURGE", path: "/products" }],
    ["401", { method: "GET", path: "/my-page" }],
    ["400", { method: "GET", path: "/products/not-a-uuid" }],
  ];

  it("every answer — 2xx, 4xx, 5xx, text, JSON, problem — carries them", async () => {
    for (const [label, request] of more) await hit(label, request);
    const failures: string[] = [];
    for (const { label, response } of answers) {
      const headers = response.headers;
      const csp = headers.get("content-security-policy") ?? "";
      const problems = [
        headers.get("x-content-type-options") !== "nosniff" && `X-Content-Type-Options ${headers.get("x-content-type-options")}`,
        headers.get("x-powered-by") !== null && `X-Powered-By ${headers.get("x-powered-by")}`,
        !/\bno-store\b/.test(headers.get("cache-control") ?? "") && `Cache-Control ${headers.get("cache-control")}`,
        !/default-src 'none'/.test(csp) && `CSP ${csp || "(none)"} without default-src 'none'`,
        !/frame-ancestors 'none'/.test(csp) && `CSP ${csp || "(none)"} without frame-ancestors 'none'`,
        (headers.get("x-frame-options") ?? "").toUpperCase() !== "DENY" && `X-Frame-Options ${headers.get("x-frame-options")}`,
        headers.get("referrer-policy") === null && "no Referrer-Policy",
        headers.get("access-control-allow-origin") !== null && `Access-Control-Allow-Origin ${headers.get("access-control-allow-origin")}`,
        /\d/.test(headers.get("server") ?? "") && `Server ${headers.get("server")} names a version`,
      ].filter((problem): problem is string => typeof problem === "string");
      if (problems.length > 0) failures.push(`${label} (${response.status}): ${problems.join("; ")}`);
    }
    expect(failures).toEqual([]);
    const statuses = new Set(answers.map(({ response }) => response.status));
    for (const status of [200, 201, 400, 401, 402, 403, 404, 405, 409, 413, 415, 501, 503])
      expect(statuses, `no ${status} among the answers`).toContain(status);
  });

  it("a caller's X-Request-Id is echoed only when it is short and plain", async () => {
    const plain = await send(stack.url, { method: "GET", path: "/health/live", headers: { "x-request-id": "trace-123.abc:def" } });
    expect(plain.headers.get("x-request-id")).toBe("trace-123.abc:def");
    for (const hostile of ["x".repeat(129), "a b", "<script>", "id\u00ff", `"quoted"`]) {
      const response = await send(stack.url, { method: "GET", path: "/health/live", headers: { "x-request-id": hostile } });
      const echoed = response.headers.get("x-request-id") ?? "";
      expect(echoed).not.toBe(hostile);
      expect(echoed).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});

describe("no secrets in the logs", () => {
  it("captured the service's lines: access lines for the failures and the workers' lines", () => {
    const parsed = lines.map((line) => JSON.parse(line) as { msg?: string; status?: number });
    expect(parsed.filter((line) => line.msg === "request").length).toBeGreaterThan(30);
    for (const status of [401, 402, 403, 413, 415, 503])
      expect(
        parsed.some((line) => line.msg === "request" && line.status === status),
        `an access line for ${status}`,
      ).toBe(true);
    expect(parsed.some((line) => line.msg === "charged the payment token given with the reservation")).toBe(true);
    expect(parsed.some((line) => typeof line.msg === "string" && line.msg.startsWith("notify "))).toBe(true);
  });

  it("no bearer token, credential, cookie, payment token or AUTH_SECRET appears in any line", () => {
    const leaks: string[] = [];
    for (const line of lines) {
      for (const secret of secrets) {
        if (line.includes(secret)) leaks.push(`${secret.slice(0, 24)}… in ${line.slice(0, 300)}`);
      }
      if (/tok_/.test(line)) leaks.push(`a tok_ payment token in ${line.slice(0, 300)}`);
      if (/eyJ[\w-]{8,}\.[\w-]{8,}\.?/.test(line)) leaks.push(`a JWT in ${line.slice(0, 300)}`);
    }
    expect(leaks).toEqual([]);
    expect(lines.length).toBeGreaterThan(0);
  });
});

describe("no payment token in the event store", () => {
  it("no event anywhere in $all, system streams included, holds a payment token", async () => {
    const holding: string[] = [];
    let placedWithToken = 0;
    for await (const resolved of stack.service.eventStore.client.readAll({ direction: FORWARDS, fromPosition: START })) {
      const event = resolved.event;
      if (!event) continue;
      const text = [event.data, event.metadata]
        .map((part) => (part instanceof Uint8Array ? Buffer.from(part).toString("utf8") : JSON.stringify(part)))
        .join("\n");
      if (/tok_/.test(text)) holding.push(`${event.streamId}@${event.revision} ${event.type}`);
      if (event.type === "ReservationPlaced" && /"paymentTokenProvided":true/.test(text)) placedWithToken += 1;
    }
    // The flows above placed reservations with tokens, so the log had every chance to hold one.
    expect(placedWithToken).toBeGreaterThanOrEqual(3);
    expect(holding).toEqual([]);
  });
});
