/**
 * The one principal/token fixture of the suites that drive the HTTP API: tokens minted with the
 * service's own `signToken` (so a test proves nothing the real auth would refuse), tokens crafted to
 * be refused (expired, foreign key, `alg: none`, arbitrary claims), and an HTTP client that sends
 * a principal's bearer token and keeps the whole answer. No test-runner dependency: `bench/` uses
 * it through the scenario harness.
 */
import { SignJWT } from "jose";
import type { Role } from "../../src/application/ports.js";
import { signToken } from "../../src/http/auth.js";

export interface Principal {
  readonly sub: string;
  readonly role: Role;
}

/** The people of the suites: customers, sellers and an admin whose names say their role. */
export const PEOPLE = {
  alice: { sub: "customer-alice", role: "customer" },
  bob: { sub: "customer-bob", role: "customer" },
  carol: { sub: "customer-carol", role: "customer" },
  sam: { sub: "seller-sam", role: "seller" },
  sue: { sub: "seller-sue", role: "seller" },
  ada: { sub: "admin-ada", role: "admin" },
} as const satisfies Record<string, Principal>;

/** A token the service accepts for `sub` in `role` (an hour unless told). */
export const mintToken = (secret: string, sub: string, role: Role, ttlSeconds = 3600): Promise<string> =>
  signToken(secret, { sub, role, ttlSeconds });

/** One token per principal, by the principal's name. */
export async function mintTokens<const P extends Readonly<Record<string, Principal>>>(
  secret: string,
  principals: P,
): Promise<Record<keyof P & string, string>> {
  const entries = await Promise.all(
    Object.entries(principals).map(async ([name, principal]) => [name, await mintToken(secret, principal.sub, principal.role)] as const),
  );
  return Object.fromEntries(entries) as Record<keyof P & string, string>;
}

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = (): number => Math.floor(Date.now() / 1000);
const key = (secret: string): Uint8Array => new TextEncoder().encode(secret);

/** Correctly signed, issued `issuedSecondsAgo` and expired a minute ago. */
export const expiredToken = (secret: string, sub: string, role: Role, issuedSecondsAgo: number): Promise<string> =>
  new SignJWT({ role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt(now() - issuedSecondsAgo)
    .setExpirationTime(now() - 60)
    .sign(key(secret));

/** Unsigned (`alg: none`, empty signature), crafted by hand with these claims. */
export const unsignedToken = (claims: Readonly<Record<string, unknown>>): string =>
  `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims)}.`;

/** `alg: none` claims for `sub` in `role`, valid for the next hour. */
export const algNoneClaims = (sub: string, role: string): Record<string, number | string> => ({ sub, role, iat: now(), exp: now() + 3600 });

/** Signed with the right key and any claims, valid for an hour. */
export const signedClaims = (secret: string, claims: Record<string, unknown>): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime("1h").sign(key(secret));

export interface ApiResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed JSON when the body is JSON, otherwise the text. */
  readonly body: T;
}

export interface RequestOptions<As extends string = string> {
  /** Whose bearer token to send; no Authorization header when absent. */
  readonly as?: As;
  /** Serialised as JSON with `Content-Type: application/json`. */
  readonly json?: unknown;
  /** Sent as is (with whatever `Content-Type` `headers` give). */
  readonly raw?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Per request; 20 s unless told. */
  readonly timeoutMs?: number;
}

export interface HttpClient<As extends string = string> {
  request<T = unknown>(method: string, path: string, options?: RequestOptions<As>): Promise<ApiResponse<T>>;
  get<T = unknown>(path: string, options?: RequestOptions<As>): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, options?: RequestOptions<As>): Promise<ApiResponse<T>>;
  patch<T = unknown>(path: string, options?: RequestOptions<As>): Promise<ApiResponse<T>>;
  delete<T = unknown>(path: string, options?: RequestOptions<As>): Promise<ApiResponse<T>>;
}

export interface SendOptions {
  readonly headers: Record<string, string>;
  /** Serialised as JSON with `Content-Type: application/json` unless `headers` say otherwise. */
  readonly json?: unknown;
  /** Sent as is when there is no `json`. */
  readonly raw?: string;
  readonly timeoutMs: number;
}

/** One `fetch` with its body and a deadline; `headers` gains the JSON content type. */
export function sendRequest(url: string, method: string, options: SendOptions): Promise<Response> {
  const { headers } = options;
  let body: string | undefined;
  if (options.json !== undefined) {
    headers["content-type"] ??= "application/json";
    body = JSON.stringify(options.json);
  } else if (options.raw !== undefined) {
    body = options.raw;
  }
  return fetch(url, { method, headers, signal: AbortSignal.timeout(options.timeoutMs), ...(body === undefined ? {} : { body }) });
}

/** A client of the service at `url`; `tokenOf` turns an `as` into the bearer token to send. */
export function bearerClient<As extends string>(url: string, tokenOf: (as: As) => string): HttpClient<As> {
  const request = async <T>(method: string, path: string, options: RequestOptions<As> = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.as !== undefined) headers.authorization = `Bearer ${tokenOf(options.as)}`;
    const response = await sendRequest(`${url}${path}`, method, { ...options, headers, timeoutMs: options.timeoutMs ?? 20_000 });
    const text = await response.text();
    const type = response.headers.get("content-type") ?? "";
    const parsed: unknown = /json/.test(type) && text !== "" ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body: parsed as T };
  };
  return {
    request,
    get: (path, options) => request("GET", path, options),
    post: (path, options) => request("POST", path, options),
    patch: (path, options) => request("PATCH", path, options),
    delete: (path, options) => request("DELETE", path, options),
  };
}
