/**
 * Who may do what (API.md), as a table: every route × every role × owner / non-owner, and every
 * kind of bad credential, against the real stack (ROLE=all: the saga requests and charges
 * payments, so ownership and states are real).
 *
 * Resources: seller S1 owns product P1 (sale, seller acceptance, steps packed → delivered) and the
 * rental PR; seller S2 owns P2. Customer C1 reserved R1 on P1 with `tok_ok` (charged by the saga,
 * so R1 awaits acceptance and its payment is paid); customer C2 reserved R2 on P2 (payment pending).
 *
 * Commands that honour `If-Match` are sent with a revision that never matches: whoever passes the
 * role and ownership checks gets 412 and nothing changes, everyone else 403 — so the table's
 * answers do not depend on the order the cases run in.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/application/ports.js";
import { PROBLEM_TYPE_BASE } from "../../src/http/problem.js";
import {
  algNoneToken,
  eventually,
  expiredToken,
  isProblemContentType,
  notYetValidToken,
  otherAlgorithmToken,
  send,
  signedClaims,
  startStack,
  tamperedToken,
  validToken,
  wrongSignatureToken,
  type RawResponse,
  type Stack,
} from "./support.js";

const PRINCIPALS = {
  "customer (owner)": { sub: "am-customer-1", role: "customer" },
  "customer (not owner)": { sub: "am-customer-2", role: "customer" },
  "seller (owner)": { sub: "am-seller-1", role: "seller" },
  "seller (not owner)": { sub: "am-seller-2", role: "seller" },
  admin: { sub: "am-admin", role: "admin" },
} as const satisfies Record<string, { sub: string; role: Role }>;
type Principal = keyof typeof PRINCIPALS;
const PRINCIPAL_NAMES = Object.keys(PRINCIPALS) as Principal[];

/** Never the current revision of anything here. */
const STALE = { "if-match": 'W/"999999"' };

interface Fixtures {
  readonly p1: string;
  readonly p2: string;
  readonly r1: string;
  readonly r2: string;
}

interface RouteCase {
  readonly name: string;
  readonly method: string;
  readonly path: (f: Fixtures) => string;
  readonly body?: (f: Fixtures) => unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** The status each principal gets. */
  readonly expected: Readonly<Record<Principal, number>>;
}

const all = (status: number): Record<Principal, number> => ({
  "customer (owner)": status,
  "customer (not owner)": status,
  "seller (owner)": status,
  "seller (not owner)": status,
  admin: status,
});
const byRole = (customer: number, seller: number, admin: number): Record<Principal, number> => ({
  "customer (owner)": customer,
  "customer (not owner)": customer,
  "seller (owner)": seller,
  "seller (not owner)": seller,
  admin,
});

/**
 * `POST /reservations/{id}/<command>` with a stale If-Match: whoever may send the command (the
 * admin and `mayAct`) gets as far as the revision check (412), everyone else 403.
 */
const staleCommand = (command: string, mayAct: readonly Principal[], rest: Partial<RouteCase> = {}): RouteCase => ({
  name: `POST /reservations/{id}/${command}`,
  method: "POST",
  path: (f) => `/reservations/${f.r1}/${command}`,
  headers: STALE,
  expected: { ...byRole(403, 403, 412), ...Object.fromEntries(mayAct.map((principal) => [principal, 412])) },
  ...rest,
});

/** API.md, route by route. */
const AUTHENTICATED: readonly RouteCase[] = [
  {
    name: "POST /products",
    method: "POST",
    path: () => "/products",
    body: () => ({ name: "matrix product", capacity: 1, unitPrice: 1 }),
    expected: byRole(403, 201, 201),
  },
  {
    name: "PATCH /products/{id}",
    method: "PATCH",
    path: (f) => `/products/${f.p1}`,
    body: () => ({ name: "renamed" }),
    headers: STALE,
    expected: { ...byRole(403, 403, 412), "seller (owner)": 412 },
  },
  {
    name: "DELETE /products/{id}",
    method: "DELETE",
    path: (f) => `/products/${f.p1}`,
    headers: STALE,
    expected: { ...byRole(403, 403, 412), "seller (owner)": 412 },
  },
  {
    name: "POST /reservations",
    method: "POST",
    path: () => "/reservations",
    // More than P2 has: a customer is let through to the rule (409) and nothing is held.
    body: (f) => ({ productId: f.p2, quantity: 10_000 }),
    expected: byRole(409, 403, 403),
  },
  { name: "GET /reservations", method: "GET", path: () => "/reservations", expected: all(200) },
  {
    name: "GET /reservations/{id}",
    method: "GET",
    path: (f) => `/reservations/${f.r1}`,
    expected: { ...byRole(403, 403, 200), "customer (owner)": 200, "seller (owner)": 200 },
  },
  staleCommand("cancel", ["customer (owner)"]),
  staleCommand("accept", ["seller (owner)"]),
  staleCommand("reject", ["seller (owner)"], { body: () => ({ reason: "matrix" }) }),
  // API.md: "the customer may confirm the final step".
  staleCommand("progress", ["seller (owner)", "customer (owner)"], {
    name: "POST /reservations/{id}/progress (the final step)",
    body: () => ({ step: "delivered" }),
  }),
  staleCommand("progress", ["seller (owner)"], {
    name: "POST /reservations/{id}/progress (another step)",
    body: () => ({ step: "packed" }),
  }),
  staleCommand("start", ["customer (owner)"]),
  staleCommand("return", ["customer (owner)"]),
  { name: "GET /payments", method: "GET", path: () => "/payments", expected: byRole(200, 403, 200) },
  {
    name: "GET /payments/{id}",
    method: "GET",
    path: (f) => `/payments/${f.r1}`,
    // Its customer and admins: not even the product's seller.
    expected: { ...byRole(403, 403, 200), "customer (owner)": 200 },
  },
  {
    name: "POST /payments/{id}/pay",
    method: "POST",
    path: (f) => `/payments/${f.r1}/pay`,
    // Already paid by the saga: its customer gets 200 and nothing changes.
    body: () => ({ token: "tok_ok" }),
    expected: { ...byRole(403, 403, 403), "customer (owner)": 200 },
  },
  { name: "GET /my-page", method: "GET", path: () => "/my-page", expected: byRole(200, 403, 403) },
  // Sellers read their own (about their products); API.md "Additions".
  { name: "GET /notifications", method: "GET", path: () => "/notifications", expected: byRole(200, 200, 200) },
];

const PUBLIC: ReadonlyArray<{ readonly name: string; readonly path: (f: Fixtures) => string }> = [
  { name: "GET /products", path: () => "/products" },
  { name: "GET /products/{id}", path: (f) => `/products/${f.p1}` },
  { name: "GET /health/live", path: () => "/health/live" },
  { name: "GET /health/ready", path: () => "/health/ready" },
  { name: "GET /openapi.json", path: () => "/openapi.json" },
  { name: "GET /metrics", path: () => "/metrics" },
];

let stack: Stack;
let fixtures: Fixtures;
const tokens = {} as Record<Principal, string>;

async function call(
  method: string,
  path: string,
  options: { token?: string; authorization?: string; body?: unknown; headers?: Readonly<Record<string, string>> } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  else if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  return send(stack.url, { method, path, headers, ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }) });
}

async function created<T>(who: Principal, path: string, body: unknown): Promise<T> {
  const response = await call("POST", path, { token: tokens[who], body });
  expect(response.status, response.text).toBe(201);
  return response.json as T;
}

const describeAnswer = (response: RawResponse): string => `${response.status} ${response.text.slice(0, 300)}`;

function expectProblem(response: RawResponse, status: number, code: string): void {
  const context = describeAnswer(response);
  expect(response.status, context).toBe(status);
  expect(isProblemContentType(response.headers), context).toBe(true);
  const problem = response.json as { type?: string; title?: string; status?: number };
  expect(problem.type, context).toBe(`${PROBLEM_TYPE_BASE}${code}`);
  expect(problem.status, context).toBe(status);
  expect(typeof problem.title, context).toBe("string");
}

beforeAll(async () => {
  stack = await startStack({ role: "all" });
  for (const name of PRINCIPAL_NAMES) tokens[name] = await validToken(stack.secret, PRINCIPALS[name].sub, PRINCIPALS[name].role);

  const p1 = await created<{ id: string }>("seller (owner)", "/products", {
    name: "matrix P1",
    capacity: 100,
    unitPrice: 1000,
    sellerAcceptance: true,
    fulfilmentSteps: ["packed", "delivered"],
  });
  await created("seller (owner)", "/products", { name: "matrix rental", capacity: 10, unitPrice: 100, kind: "rental" });
  const p2 = await created<{ id: string }>("seller (not owner)", "/products", { name: "matrix P2", capacity: 100, unitPrice: 500 });
  const r1 = await created<{ id: string }>("customer (owner)", "/reservations", { productId: p1.id, quantity: 1, paymentToken: "tok_ok" });
  const r2 = await created<{ id: string }>("customer (not owner)", "/reservations", { productId: p2.id, quantity: 2 });
  fixtures = { p1: p1.id, p2: p2.id, r1: r1.id, r2: r2.id };

  // The saga charges R1's token (R1 then awaits the seller's acceptance) and requests R2's payment.
  await eventually(
    async () => {
      const response = await call("GET", `/reservations/${r1.id}`, { token: tokens.admin });
      expect(response.json).toMatchObject({ status: "awaiting-acceptance", paymentStatus: "paid" });
    },
    { timeoutMs: 20_000 },
  );
  await eventually(
    async () => {
      const response = await call("GET", `/payments/${r2.id}`, { token: tokens.admin });
      expect(response.json).toMatchObject({ status: "pending" });
    },
    { timeoutMs: 20_000 },
  );
  await eventually(async () => expect((await call("GET", "/health/ready")).status).toBe(200), { timeoutMs: 20_000 });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
}, 20_000);

describe("every route × every role × owner / not owner", () => {
  const cases = AUTHENTICATED.flatMap((route) =>
    PRINCIPAL_NAMES.map((principal) => ({ route, principal, status: route.expected[principal] })),
  );

  it.each(cases.map((c) => [`${c.route.name} as ${c.principal} → ${c.status}`, c] as const))(
    "%s",
    async (_name, { route, principal, status }) => {
      const response = await call(route.method, route.path(fixtures), {
        token: tokens[principal],
        ...(route.body === undefined ? {} : { body: route.body(fixtures) }),
        ...(route.headers === undefined ? {} : { headers: route.headers }),
      });
      if (status === 403) expectProblem(response, 403, "forbidden");
      else if (status === 412) expectProblem(response, 412, "revision-mismatch");
      else expect(response.status, describeAnswer(response)).toBe(status);
    },
  );

  it.each(PUBLIC.flatMap((route) => PRINCIPAL_NAMES.map((principal) => [`${route.name} as ${principal}`, route, principal] as const)))(
    "%s → 200",
    async (_name, route, principal) => {
      const response = await call("GET", route.path(fixtures), { token: tokens[principal] });
      expect(response.status, describeAnswer(response)).toBe(200);
    },
  );
});

/** A token of one role whose `sub` is another user's id speaks for that role only. */
describe("a sub shared across roles grants nothing", () => {
  it.each([
    [
      "a customer token with the owning seller's sub reads R1",
      "customer",
      "am-seller-1",
      "GET",
      (f: Fixtures) => `/reservations/${f.r1}`,
      undefined,
    ],
    [
      "a seller token with R1's customer's sub reads R1",
      "seller",
      "am-customer-1",
      "GET",
      (f: Fixtures) => `/reservations/${f.r1}`,
      undefined,
    ],
    [
      "a seller token with R1's customer's sub reads R1's payment",
      "seller",
      "am-customer-1",
      "GET",
      (f: Fixtures) => `/payments/${f.r1}`,
      undefined,
    ],
    [
      "a seller token with R1's customer's sub cancels R1",
      "seller",
      "am-customer-1",
      "POST",
      (f: Fixtures) => `/reservations/${f.r1}/cancel`,
      undefined,
    ],
    [
      "a customer token with the owning seller's sub accepts R1",
      "customer",
      "am-seller-1",
      "POST",
      (f: Fixtures) => `/reservations/${f.r1}/accept`,
      undefined,
    ],
    [
      "a customer token with P1's seller's sub renames P1",
      "customer",
      "am-seller-1",
      "PATCH",
      (f: Fixtures) => `/products/${f.p1}`,
      { name: "x" },
    ],
    [
      "a customer token with P1's seller's sub pays R1",
      "customer",
      "am-seller-1",
      "POST",
      (f: Fixtures) => `/payments/${f.r1}/pay`,
      { token: "tok_ok" },
    ],
  ] as const)("%s → 403", async (_name, role, sub, method, path, body) => {
    const token = await validToken(stack.secret, sub, role);
    const response = await call(method, path(fixtures), { token, headers: STALE, ...(body === undefined ? {} : { body }) });
    expectProblem(response, 403, "forbidden");
  });
});

describe("bad credentials", () => {
  /** Each is refused with 401 on every authenticated route, whatever role or owner it claims. */
  const variants = async (): Promise<ReadonlyArray<readonly [string, string | undefined]>> => {
    const owner = PRINCIPALS["customer (owner)"];
    const valid = tokens.admin;
    const [header = "", payload = ""] = valid.split(".");
    return [
      ["no Authorization header", undefined],
      ["an expired token", `Bearer ${await expiredToken(stack.secret, PRINCIPALS.admin.sub, "admin")}`],
      ["a token signed with another key", `Bearer ${await wrongSignatureToken(PRINCIPALS.admin.sub, "admin")}`],
      ["a token whose claims were changed after signing", `Bearer ${await tamperedToken(stack.secret, owner.sub, "customer")}`],
      ["an alg: none token (empty signature)", `Bearer ${algNoneToken(PRINCIPALS.admin.sub, "admin")}`],
      [
        "an alg: none token with the signature of a valid one",
        `Bearer ${algNoneToken(PRINCIPALS.admin.sub, "admin").slice(0, -1)}.${valid.split(".")[2] ?? ""}`,
      ],
      ["a valid header and payload with an empty signature", `Bearer ${header}.${payload}.`],
      [
        "an HS512 token signed with the server's secret",
        `Bearer ${await otherAlgorithmToken(stack.secret, PRINCIPALS.admin.sub, "admin")}`,
      ],
      ["a token without a role claim", `Bearer ${await signedClaims(stack.secret, { sub: PRINCIPALS.admin.sub })}`],
      ["a token with an unknown role", `Bearer ${await signedClaims(stack.secret, { sub: PRINCIPALS.admin.sub, role: "superuser" })}`],
      ["a token with a role list", `Bearer ${await signedClaims(stack.secret, { sub: PRINCIPALS.admin.sub, role: ["admin"] })}`],
      ["a token with role ADMIN", `Bearer ${await signedClaims(stack.secret, { sub: PRINCIPALS.admin.sub, role: "ADMIN" })}`],
      ["a token without a sub", `Bearer ${await signedClaims(stack.secret, { role: "admin" })}`],
      ["a token with an empty sub", `Bearer ${await signedClaims(stack.secret, { sub: "", role: "admin" })}`],
      ["a token that is not valid yet (nbf)", `Bearer ${await notYetValidToken(stack.secret, PRINCIPALS.admin.sub, "admin")}`],
      ["an empty Authorization header", ""],
      ["Bearer without a token", "Bearer"],
      ["a Basic credential", `Basic ${Buffer.from("am-admin:password").toString("base64")}`],
      ["another scheme with a valid token", `Token ${valid}`],
      ["a valid token without a scheme", valid],
      ["a valid token followed by junk", `Bearer ${valid} junk`],
      ["two tokens", `Bearer ${valid}, Bearer ${valid}`],
      ["a token of two parts", `Bearer ${header}.${payload}`],
      ["a token of characters outside base64url", "Bearer !!!.???.***"],
      ["a token of 4 KB garbage", `Bearer ${"a".repeat(4096)}`],
    ];
  };

  let cases: ReadonlyArray<readonly [string, string | undefined]> = [];
  beforeAll(async () => {
    cases = await variants();
  });

  it("every authenticated route answers 401 (problem+json, WWW-Authenticate: Bearer) to every bad credential", async () => {
    const failures: string[] = [];
    let checked = 0;
    for (const route of AUTHENTICATED) {
      for (const [variant, authorization] of cases) {
        const response = await call(route.method, route.path(fixtures), {
          ...(authorization === undefined ? {} : { authorization }),
          ...(route.body === undefined ? {} : { body: route.body(fixtures) }),
          ...(route.headers === undefined ? {} : { headers: route.headers }),
        });
        checked += 1;
        const problem = response.json as { type?: string; status?: number } | undefined;
        const challenge = response.headers.get("www-authenticate") ?? "";
        if (
          response.status !== 401 ||
          !isProblemContentType(response.headers) ||
          problem?.type !== `${PROBLEM_TYPE_BASE}unauthorized` ||
          problem.status !== 401 ||
          !/^Bearer realm=/.test(challenge)
        ) {
          failures.push(`${route.name} with ${variant}: ${describeAnswer(response)} (WWW-Authenticate: ${challenge || "none"})`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(checked).toBe(AUTHENTICATED.length * cases.length);
  });

  it("authentication comes first: no token and a malformed id or body is still 401, not 400/404", async () => {
    for (const route of AUTHENTICATED) {
      const path = route.path(fixtures).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, "not-a-uuid");
      const response = await send(stack.url, {
        method: route.method,
        path,
        headers: { "content-type": "application/json" },
        ...(route.method === "GET" ? {} : { body: "{not json" }),
      });
      expect(response.status, `${route.name}: ${describeAnswer(response)}`).toBe(401);
    }
  });

  it("the scheme is case-insensitive (RFC 7235): `bearer <token>` is accepted", async () => {
    const response = await call("GET", "/my-page", { authorization: `bearer ${tokens["customer (owner)"]}` });
    expect(response.status, describeAnswer(response)).toBe(200);
  });

  it("public routes answer without a token and ignore a bad one", async () => {
    for (const route of PUBLIC) {
      for (const [variant, authorization] of cases) {
        const response = await call("GET", route.path(fixtures), authorization === undefined ? {} : { authorization });
        expect(response.status, `${route.name} with ${variant}: ${describeAnswer(response)}`).toBe(200);
      }
    }
  });
});

describe("lists show only what the caller may see", () => {
  interface Item {
    readonly id: string;
    readonly customerId?: string;
    readonly reservationId?: string;
  }
  const ids = async (principal: Principal, path: string): Promise<string[]> => {
    const response = await call("GET", path, { token: tokens[principal] });
    expect(response.status, describeAnswer(response)).toBe(200);
    return ((response.json as { items: Item[] }).items ?? []).map((item) => item.reservationId ?? item.id);
  };

  it("GET /reservations: customers their own, sellers those on their products, admins all", async () => {
    await eventually(
      async () => {
        const seen = {
          c1: await ids("customer (owner)", "/reservations"),
          c2: await ids("customer (not owner)", "/reservations"),
          s1: await ids("seller (owner)", "/reservations"),
          s2: await ids("seller (not owner)", "/reservations"),
          admin: await ids("admin", "/reservations"),
        };
        expect(seen.c1).toContain(fixtures.r1);
        expect(seen.c1).not.toContain(fixtures.r2);
        expect(seen.c2).toContain(fixtures.r2);
        expect(seen.c2).not.toContain(fixtures.r1);
        expect(seen.s1).toContain(fixtures.r1);
        expect(seen.s1).not.toContain(fixtures.r2);
        expect(seen.s2).toContain(fixtures.r2);
        expect(seen.s2).not.toContain(fixtures.r1);
        expect(seen.admin).toEqual(expect.arrayContaining([fixtures.r1, fixtures.r2]));
      },
      { timeoutMs: 15_000 },
    );
  });

  it("GET /payments: customers their own, admins all", async () => {
    await eventually(
      async () => {
        const c1 = await ids("customer (owner)", "/payments");
        const c2 = await ids("customer (not owner)", "/payments");
        expect(c1).toContain(fixtures.r1);
        expect(c1).not.toContain(fixtures.r2);
        expect(c2).toContain(fixtures.r2);
        expect(c2).not.toContain(fixtures.r1);
        expect(await ids("admin", "/payments")).toEqual(expect.arrayContaining([fixtures.r1, fixtures.r2]));
      },
      { timeoutMs: 15_000 },
    );
  });

  it("GET /notifications: a customer sees only their own, even when asking for another's reservation", async () => {
    await eventually(
      async () => {
        const own = await call("GET", "/notifications", { token: tokens["customer (owner)"] });
        const items = (own.json as { items: Array<{ customerId: string; reservationId: string }> }).items;
        expect(items.length).toBeGreaterThan(0);
        expect(new Set(items.map((item) => item.customerId))).toEqual(new Set([PRINCIPALS["customer (owner)"].sub]));
        const others = await call("GET", `/notifications?reservationId=${fixtures.r1}`, { token: tokens["customer (not owner)"] });
        expect(others.status).toBe(200);
        expect((others.json as { items: unknown[] }).items).toEqual([]);
        const admin = await call("GET", `/notifications?reservationId=${fixtures.r1}`, { token: tokens.admin });
        expect((admin.json as { items: unknown[] }).items.length).toBeGreaterThan(0);
      },
      { timeoutMs: 15_000 },
    );
  });

  it("GET /my-page: a customer's page holds only their reservations", async () => {
    await eventually(
      async () => {
        const page = await call("GET", "/my-page", { token: tokens["customer (owner)"] });
        const body = page.json as { customerId: string; reservations: Array<{ reservationId: string }> };
        expect(body.customerId).toBe(PRINCIPALS["customer (owner)"].sub);
        const reservations = body.reservations.map((entry) => entry.reservationId);
        expect(reservations).toContain(fixtures.r1);
        expect(reservations).not.toContain(fixtures.r2);
      },
      { timeoutMs: 15_000 },
    );
  });
});
