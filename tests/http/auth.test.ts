import { generateKeyPair, SignJWT, base64url } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type TokenPolicy, verifyToken } from "../../src/http/auth.js";
import { PROBLEM_BASE, problemOf, startTestServer, type TestServer } from "./support.js";

const SECRET = "test-secret-for-the-http-edge-tests";
const key = new TextEncoder().encode(SECRET);

/** Signs claims; `exp` defaults to a minute from now, `null` leaves it out. */
function sign(claims: Record<string, unknown>, options: { alg?: string; secret?: Uint8Array; exp?: number | null; iat?: number } = {}) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? "HS256" }).setIssuedAt(options.iat);
  const exp = options.exp === undefined ? now() + 60 : options.exp;
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(options.secret ?? key);
}

function unsecured(claims: Record<string, unknown>): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode({ alg: "none", typ: "JWT" })}.${encode(claims)}.`;
}

const now = () => Math.floor(Date.now() / 1000);

describe("verifyToken", () => {
  it("returns the actor of a valid HS256 token", async () => {
    const token = await sign({ sub: "alice", role: "customer" }, { exp: now() + 60 });
    await expect(verifyToken(SECRET, token)).resolves.toEqual({ id: "alice", role: "customer" });
  });

  it("refuses a token without exp, one issued in the future, and one living longer than the policy allows", async () => {
    const refusal = (token: string, policy?: TokenPolicy) =>
      verifyToken(SECRET, token, policy).then(
        () => "accepted",
        (error: unknown) => (error as Error).message,
      );
    expect(await refusal(await sign({ sub: "bob", role: "seller" }, { exp: null }))).toContain("'exp'");
    expect(await refusal(await sign({ sub: "bob", role: "seller" }, { iat: now() + 3600, exp: now() + 3700 }))).toContain("future");
    const day = await sign({ sub: "bob", role: "seller" }, { exp: now() + 2 * 24 * 3600 });
    expect(await refusal(day)).toContain("longer than 86400 seconds");
    expect(await refusal(day, { maxLifetimeSeconds: 3 * 24 * 3600 })).toBe("accepted");
  });

  it("checks iss and aud when the policy names them", async () => {
    const policy: TokenPolicy = { maxLifetimeSeconds: 3600, issuer: "https://auth.example", audience: "reservations" };
    const forAudience = (audience: string): Promise<string> =>
      new SignJWT({ sub: "a", role: "customer" })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuedAt()
        .setExpirationTime("5m")
        .setIssuer("https://auth.example")
        .setAudience(audience)
        .sign(key);
    const good = await forAudience("reservations");
    await expect(verifyToken(SECRET, good, policy)).resolves.toEqual({ id: "a", role: "customer" });
    await expect(verifyToken(SECRET, await sign({ sub: "a", role: "customer" }), policy)).rejects.toMatchObject({ status: 401 });
    const otherAudience = await forAudience("billing");
    await expect(verifyToken(SECRET, otherAudience, policy)).rejects.toThrow("'aud'");
  });

  it.each([
    ["expired", () => sign({ sub: "a", role: "customer" }, { exp: now() - 10 }), "the token has expired"],
    [
      "wrong signature",
      () => sign({ sub: "a", role: "customer" }, { secret: new TextEncoder().encode("another-secret") }),
      "the token is invalid",
    ],
    ["alg none", async () => unsecured({ sub: "a", role: "admin" }), "the token is invalid"],
    ["HS512 with the right secret", () => sign({ sub: "a", role: "admin" }, { alg: "HS512" }), "the token is invalid"],
    ["garbage", async () => "not.a.jwt", "the token is invalid"],
    ["missing role", () => sign({ sub: "a" }), "'role'"],
    ["unknown role", () => sign({ sub: "a", role: "root" }), "'role'"],
    ["missing sub", () => sign({ role: "admin" }), "'sub'"],
    ["empty sub", () => sign({ sub: "", role: "admin" }), "'sub'"],
    [
      "not yet valid",
      () =>
        new SignJWT({ sub: "a", role: "admin" })
          .setProtectedHeader({ alg: "HS256" })
          .setNotBefore(now() + 600)
          .setExpirationTime(now() + 900)
          .sign(key),
      "invalid",
    ],
  ])("rejects %s", async (_name, make, detail) => {
    const error = await verifyToken(SECRET, await make()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ status: 401, code: "unauthorized" });
    expect((error as Error).message).toContain(detail);
  });

  it("rejects an RS256 token (no algorithm confusion)", async () => {
    const { privateKey } = await generateKeyPair("RS256");
    const token = await new SignJWT({ sub: "a", role: "admin" }).setProtectedHeader({ alg: "RS256" }).sign(privateKey);
    await expect(verifyToken(SECRET, token)).rejects.toMatchObject({ status: 401 });
  });
});

describe("bearer authentication over HTTP", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const newProduct = { name: "Seat", capacity: 10, unitPrice: 5000 };

  it("lets a seller with a valid token register a product", async () => {
    const response = await server.request("/products", { method: "POST", token: await server.token("seller"), json: newProduct });
    expect(response.status).toBe(201);
  });

  it("answers 401 with a bare Bearer challenge when no token is sent", async () => {
    const response = await server.request("/products", { method: "POST", json: newProduct });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="reservations"');
    const problem = await problemOf(response);
    expect(problem).toMatchObject({ type: `${PROBLEM_BASE}unauthorized`, status: 401 });
  });

  it.each([
    ["expired", async () => sign({ sub: SELLER_ID, role: "seller" }, { exp: now() - 1 })],
    ["wrong signature", async () => sign({ sub: SELLER_ID, role: "seller" }, { secret: new TextEncoder().encode("nope") })],
    ["alg none", async () => unsecured({ sub: SELLER_ID, role: "seller" })],
    ["missing role", async () => sign({ sub: SELLER_ID })],
  ])("answers 401 invalid_token for an %s token", async (_name, make) => {
    const response = await server.request("/products", { method: "POST", token: await make(), json: newProduct });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer realm="reservations", error="invalid_token"/);
    expect((await problemOf(response)).type).toBe(`${PROBLEM_BASE}unauthorized`);
  });

  it("takes a token again only until it expires, and never a tampered copy of one it took (verified tokens are remembered)", async () => {
    const token = await sign({ sub: SELLER_ID, role: "seller" }, { exp: now() + 2 });
    expect((await server.request("/products", { method: "POST", token, json: newProduct })).status).toBe(201);
    const [header, payload, signature] = token.split(".");
    const tampered = `${header}.${payload}.${signature?.startsWith("A") ? "B" : "A"}${signature?.slice(1)}`;
    expect((await server.request("/products", { method: "POST", token: tampered, json: newProduct })).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    const late = await server.request("/products", { method: "POST", token, json: newProduct });
    expect(late.status).toBe(401);
    expect(late.headers.get("www-authenticate")).toContain("the token has expired");
  });

  it.each(["Basic YWxpY2U6c2VjcmV0", "Bearer", "Bearer two tokens", "token-without-scheme"])(
    "answers 401 invalid_request for Authorization: %s",
    async (header) => {
      const response = await server.request("/products", { method: "POST", headers: { Authorization: header }, json: newProduct });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toContain('error="invalid_request"');
    },
  );

  it("answers 403 for a valid token of the wrong role", async () => {
    const customer = await server.token("customer");
    const response = await server.request("/products", { method: "POST", token: customer, json: newProduct });
    expect(response.status).toBe(403);
    expect(await problemOf(response)).toMatchObject({ type: `${PROBLEM_BASE}forbidden`, status: 403 });

    const seller = await server.token("seller");
    const placed = await server.request("/reservations", {
      method: "POST",
      token: seller,
      json: { productId: "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10", quantity: 1 },
    });
    expect(placed.status).toBe(403);
  });

  it("checks the role before reading the body", async () => {
    const customer = await server.token("customer");
    const response = await server.request("/products", {
      method: "POST",
      token: customer,
      body: "{oops",
      headers: { "Content-Type": "application/json" },
    });
    expect(response.status).toBe(403);
  });

  it("needs no token for the public reads", async () => {
    const product = await server.products.register({ actor: { id: SELLER_ID, role: "seller" }, requestId: "test" }, newProduct);
    expect((await server.request(`/products/${product.id}`)).status).toBe(200);
    expect((await server.request("/health/live")).status).toBe(200);
    expect((await server.request("/health/ready")).status).toBe(200);
    expect((await server.request("/openapi.json")).status).toBe(200);
  });

  it("puts the token's subject and role into the command context", async () => {
    const admin = await server.token("admin", "root-7");
    const response = await server.request("/products", { method: "POST", token: admin, json: newProduct });
    expect(response.status).toBe(201);
    expect(server.products.calls.at(-1)?.context?.actor).toEqual({ id: "root-7", role: "admin" });
  });
});

const SELLER_ID = "seller-1";
