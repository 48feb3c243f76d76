/**
 * Shared harness of the security and fuzz suites: the real stack (`startService`, embedded event
 * store in memory, real HTTP, Redis at REDIS_URL) with its own secret and Redis key root, plain
 * `fetch` requests that keep the raw answer, token crafting (valid, expired, foreign, `alg: none`,
 * claims missing or wrong), and the head of `$all` to tell whether a request appended anything.
 */
import { TEST_REDIS_URL } from "../support/redis-url.js";
import { randomUUID } from "node:crypto";
import { BACKWARDS, END, type EventStoreDBClient } from "@eventstore/db-client";
import type { Role } from "../../src/application/ports.js";
import type { ProcessRole } from "../../src/config.js";
import { PROBLEM_CONTENT_TYPE } from "../../src/http/problem.js";
import type { Logger } from "../../src/logger.js";
import type { RunningService } from "../../src/service.js";
import {
  deleteKeysUnder,
  eventually as poll,
  settlesWithin,
  startServiceUnderTest,
  type PollOptions,
} from "../support/in-process-service.js";
import { algNoneClaims, expiredToken as expiredFor, mintToken, signedClaims, unsignedToken } from "../support/principals.js";
import { SignJWT } from "jose";

export { settlesWithin, signedClaims };

export interface Stack {
  readonly url: string;
  readonly secret: string;
  readonly service: RunningService;
  readonly keyRoot: string;
  stop(): Promise<void>;
}

export interface StackOptions {
  readonly role?: ProcessRole;
  readonly logger?: Logger;
  readonly logLevel?: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** Extra environment (strings, as in the real environment). */
  readonly env?: Readonly<Record<string, string>>;
  readonly secret?: string;
}

export const STOP_TIMEOUT_MS = 10_000;

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const secret = options.secret ?? `security-suite-secret-${randomUUID()}`;
  const keyRoot = `sec-${randomUUID()}`;
  const redisUrl = TEST_REDIS_URL;
  const level = options.logLevel ?? "silent";
  const { url, service } = await startServiceUnderTest(
    {
      AUTH_SECRET: secret,
      LOG_LEVEL: level,
      REDIS_URL: redisUrl,
      READ_MODEL_KEY_ROOT: keyRoot,
      ROLE: options.role ?? "all",
      ...options.env,
    },
    options.logger === undefined ? {} : { logger: options.logger },
  );
  return {
    url,
    secret,
    service,
    keyRoot,
    stop: async () => {
      if (!(await settlesWithin(service.stop(), STOP_TIMEOUT_MS))) {
        console.warn(`service.stop() did not finish within ${STOP_TIMEOUT_MS} ms`);
      }
      await removeKeys(redisUrl, keyRoot);
    },
  };
}

/** Deletes the read models this stack wrote (its key root is its own). */
const removeKeys = (url: string, keyRoot: string): Promise<unknown> =>
  // Best effort: a unique key root never collides with another run's.
  deleteKeysUnder(url, keyRoot).catch(() => undefined);

// ---- tokens ----

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = (): number => Math.floor(Date.now() / 1000);

export const validToken = mintToken;

/** Correctly signed, `exp` in the past. */
export const expiredToken = (secret: string, sub: string, role: Role): Promise<string> => expiredFor(secret, sub, role, 7200);

/** Well-formed and unexpired, signed with another key. */
export const wrongSignatureToken = (sub: string, role: Role): Promise<string> => mintToken(`not-the-secret-${randomUUID()}`, sub, role);

/** The same claims with the signature's last characters changed (a tampered token). */
export const tamperedToken = async (secret: string, sub: string, role: Role): Promise<string> => {
  const token = await validToken(secret, sub, role);
  const [header = "", payload = ""] = token.split(".");
  // Claims escalated to admin, the original signature kept.
  const escalated = b64url({ ...JSON.parse(Buffer.from(payload, "base64url").toString("utf8")), role: "admin" });
  return `${header}.${escalated}.${token.split(".")[2] ?? ""}`;
};

/** Unsigned (`alg: none`, empty signature), crafted by hand. */
export const algNoneToken = (sub: string, role: string): string => unsignedToken(algNoneClaims(sub, role));

/** Signed with the right key, but HS512 (the server pins HS256). */
export const otherAlgorithmToken = (secret: string, sub: string, role: Role): Promise<string> =>
  new SignJWT({ role })
    .setProtectedHeader({ alg: "HS512", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret.padEnd(64, "x")));

/** Signed with the right key but not valid yet (`nbf` an hour ahead). */
export const notYetValidToken = (secret: string, sub: string, role: Role): Promise<string> =>
  new SignJWT({ role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt()
    .setNotBefore(now() + 3600)
    .setExpirationTime(now() + 7200)
    .sign(new TextEncoder().encode(secret));

// ---- HTTP ----

export interface RawRequest {
  readonly method: string;
  /** Path and query, already encoded as they go on the wire. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Sent as bytes: fetch then adds no Content-Type of its own. */
  readonly body?: string | Uint8Array;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed body when it is JSON, else undefined. */
  readonly json: unknown;
  readonly jsonError?: string;
}

export async function send(base: string, request: RawRequest): Promise<RawResponse> {
  const body = request.body === undefined ? undefined : typeof request.body === "string" ? Buffer.from(request.body, "utf8") : request.body;
  const response = await fetch(`${base}${request.path}`, {
    method: request.method,
    headers: request.headers ?? {},
    signal: AbortSignal.timeout(20_000),
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  const type = response.headers.get("content-type") ?? "";
  let json: unknown;
  let jsonError: string | undefined;
  if (/json/i.test(type) && text !== "") {
    try {
      json = JSON.parse(text);
    } catch (error) {
      jsonError = String(error);
    }
  }
  return { status: response.status, headers: response.headers, text, json, ...(jsonError === undefined ? {} : { jsonError }) };
}

export const isProblemContentType = (headers: Headers): boolean =>
  (headers.get("content-type") ?? "").toLowerCase().startsWith(PROBLEM_CONTENT_TYPE);

/** The commit position of the last event in `$all` ("empty" when there is none). Reads to the end: no early `break`. */
export async function allHead(client: EventStoreDBClient): Promise<string> {
  let head = "empty";
  for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
    const position = resolved.event?.position ?? resolved.commitPosition;
    if (position !== undefined) head = typeof position === "bigint" ? String(position) : `${position.commit}/${position.prepare}`;
  }
  return head;
}

/** Polls until `check` passes or the time is up (10 s unless told); the last failure is rethrown. */
export const eventually = <T>(check: () => Promise<T>, { timeoutMs = 10_000, intervalMs = 100 }: PollOptions = {}): Promise<T> =>
  poll(check, { timeoutMs, intervalMs });

/** What must never reach a client: stack frames, internal paths, module locations. */
export function leakIn(text: string): string | undefined {
  const patterns: ReadonlyArray<readonly [string, RegExp]> = [
    // Linear-time patterns only: bodies such as /metrics can be large and full of long words.
    ["a stack frame", /\n\s*at [^\n()]{0,300}\([^\n()]{0,300}:\d+:\d+\)/],
    ["a stack frame", /\bat (?:async )?[\w.<>$]{1,200} \((?:file:|node:|\/)[^)\n]{0,300}\)/],
    ["a module path", /node_modules[\\/]/],
    ["a file URL", /file:\/\//],
    ["the working directory", new RegExp(process.cwd().replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))],
    ["a source location", /(?<![\w-])[\w-]{1,200}\.(?:ts|js|mjs|cjs):\d+(?::\d+)?/],
  ];
  for (const [what, pattern] of patterns) {
    const match = pattern.exec(text);
    if (match) return `${what}: ${JSON.stringify(text.slice(Math.max(0, match.index - 40), match.index + 80))}`;
  }
  return undefined;
}
