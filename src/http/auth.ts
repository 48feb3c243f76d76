import { createSecretKey, type KeyObject } from "node:crypto";
import type { Middleware } from "koa";
import { errors as joseErrors, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import type { Actor, Role } from "../application/ports.js";
import { userRole } from "../domain/index.js";
import { HttpProblem } from "./problem.js";
import type { AppContext, AppState } from "./state.js";
import { VerifiedTokens } from "./verified-tokens.js";

export const ROLES = userRole.options;

const ALGORITHM = "HS256";
const REALM = "reservations";

const ClaimsSchema = z.object({
  sub: z.string().min(1),
  role: userRole,
});

/** Imported once per secret: importing an HMAC key on every request costs as much as verifying. */
const keys = new Map<string, KeyObject>();

function keyOf(secret: string): KeyObject {
  let key = keys.get(secret);
  if (key === undefined) {
    key = createSecretKey(new TextEncoder().encode(secret));
    keys.set(secret, key);
  }
  return key;
}

/** RFC 6750 §3: no error code when the request carried no credentials at all. */
function unauthorized(detail: string, error?: "invalid_request" | "invalid_token"): HttpProblem {
  const challenge =
    error === undefined ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="${error}", error_description="${detail}"`;
  return new HttpProblem(401, "unauthorized", { detail, headers: { "WWW-Authenticate": challenge } });
}

function bearerToken(header: string): string {
  if (header === "") throw unauthorized("an Authorization: Bearer token is required");
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  const token = match?.[1];
  if (token === undefined) throw unauthorized("the Authorization header must be 'Bearer <token>'", "invalid_request");
  return token;
}

/** What a token must satisfy beyond its signature. */
export interface TokenPolicy {
  /** Longest accepted lifetime, `exp` − `iat` (or `exp` − now without `iat`). */
  readonly maxLifetimeSeconds: number;
  /** When set, `iss` must equal it. */
  readonly issuer?: string | undefined;
  /** When set, `aud` must contain it. */
  readonly audience?: string | undefined;
}

export const DEFAULT_TOKEN_POLICY: TokenPolicy = { maxLifetimeSeconds: 24 * 3600 };

/** Clock skew tolerated between the issuer and this server for `iat` (expiry is strict, as before). */
const CLOCK_TOLERANCE_SECONDS = 60;

/**
 * Verifies an HS256 JWT and returns who it speaks for; every failure is a 401 problem. A token must
 * expire (`exp`), live no longer than the policy allows and not be issued in the future, so that a
 * leaked token is not a key for ever.
 */
export async function verifyToken(secret: string, token: string, policy: TokenPolicy = DEFAULT_TOKEN_POLICY): Promise<Actor> {
  return (await verifyTokenUntil(secret, token, policy)).actor;
}

/** `verifyToken`, with the token's expiry (ms since the epoch). */
async function verifyTokenUntil(secret: string, token: string, policy: TokenPolicy): Promise<{ actor: Actor; expiresAtMs: number }> {
  let payload: JWTPayload;
  try {
    // Pinning the algorithm list rejects `none` and every asymmetric alg (no key confusion).
    ({ payload } = await jwtVerify(token, keyOf(secret), {
      algorithms: [ALGORITHM],
      requiredClaims: ["exp"],
      ...(policy.issuer === undefined ? {} : { issuer: policy.issuer }),
      ...(policy.audience === undefined ? {} : { audience: policy.audience }),
    }));
  } catch (error) {
    // Any failure to verify untrusted input is the client's problem, never a 500.
    const detail =
      error instanceof joseErrors.JWTExpired
        ? "the token has expired"
        : error instanceof joseErrors.JWTClaimValidationFailed && error.claim === "exp"
          ? "the token must carry an expiry ('exp')"
          : error instanceof joseErrors.JWTClaimValidationFailed && (error.claim === "iss" || error.claim === "aud")
            ? `the token's '${error.claim}' is not accepted here`
            : "the token is invalid";
    throw unauthorized(detail, "invalid_token");
  }
  const now = Math.floor(Date.now() / 1000);
  const issuedAt = typeof payload.iat === "number" ? payload.iat : now;
  if (issuedAt > now + CLOCK_TOLERANCE_SECONDS) throw unauthorized("the token is issued in the future", "invalid_token");
  if ((payload.exp ?? 0) - issuedAt > policy.maxLifetimeSeconds) {
    throw unauthorized(`the token lives longer than ${policy.maxLifetimeSeconds} seconds`, "invalid_token");
  }
  const claims = ClaimsSchema.safeParse(payload);
  if (!claims.success) {
    throw unauthorized("the token must carry a 'sub' and a 'role' of customer, seller or admin", "invalid_token");
  }
  return { actor: { id: claims.data.sub, role: claims.data.role }, expiresAtMs: (payload.exp ?? 0) * 1000 };
}

/** Requires a valid bearer token and puts its `Actor` on `ctx.state.actor`. */
export function authenticate(secret: string, policy: TokenPolicy = DEFAULT_TOKEN_POLICY): Middleware<AppState> {
  // Per middleware, so a token verified under one secret or policy is never taken under another.
  const verified = new VerifiedTokens<Actor>();
  return async (ctx, next) => {
    const token = bearerToken(ctx.get("Authorization"));
    let actor = verified.get(token);
    if (actor === undefined) {
      const checked = await verifyTokenUntil(secret, token, policy);
      verified.remember(token, checked.actor, checked.expiresAtMs);
      actor = checked.actor;
    }
    ctx.state.actor = actor;
    await next();
  };
}

/** The authenticated actor; a route that calls this without `authenticate` before it answers 401. */
export function actorOf(ctx: AppContext): Actor {
  const actor = ctx.state.actor;
  if (actor === undefined) throw unauthorized("an Authorization: Bearer token is required");
  return actor;
}

/** After `authenticate`: 403 unless the actor has one of the roles. Ownership is the services' check. */
export function requireRole(...roles: readonly Role[]): Middleware<AppState> {
  return async (ctx, next) => {
    const actor = actorOf(ctx);
    if (!roles.some((role) => role === actor.role)) {
      throw new HttpProblem(403, "forbidden", { detail: `this action needs the role ${roles.join(" or ")}` });
    }
    await next();
  };
}

export interface TokenRequest {
  readonly sub: string;
  readonly role: Role;
  readonly ttlSeconds: number;
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
}

export async function signToken(secret: string, request: TokenRequest): Promise<string> {
  const jwt = new SignJWT({ role: request.role })
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
    .setSubject(request.sub)
    .setIssuedAt()
    .setExpirationTime(`${request.ttlSeconds}s`);
  if (request.issuer !== undefined) jwt.setIssuer(request.issuer);
  if (request.audience !== undefined) jwt.setAudience(request.audience);
  return jwt.sign(keyOf(secret));
}
