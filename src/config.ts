import { createHmac } from "node:crypto";
import type { AuthSettings, HttpSettings } from "./http/settings.js";
import type { RedisSentinelSettings } from "./infrastructure/redis.js";
import { LOG_LEVELS, type LogLevel } from "./logger.js";
import { z } from "zod";

/** Used when `AUTH_SECRET` is unset outside production; anyone can mint tokens with it. */
export const DEVELOPMENT_AUTH_SECRET = "reservations-development-secret-not-for-production";

/** Below this an HS256 key is guessable; enforced in production only, so short test secrets keep working. */
const PRODUCTION_MIN_SECRET_LENGTH = 32;

export type ProcessRole = "api" | "worker" | "all";

export interface Config {
  readonly nodeEnv: string;
  readonly role: ProcessRole;
  readonly logLevel: LogLevel;
  readonly http: HttpSettings;
  readonly eventStore: {
    /** Unset: start the embedded server. */
    readonly url: string | undefined;
    readonly dataDir: string;
    /** 0: any free port. */
    readonly embeddedPort: number;
  };
  readonly redis: {
    /** Unset: start and manage a redis-server with its data under `DATA_DIR/redis`. */
    readonly url: string | undefined;
    /** The managed server's port; 0: any free port. */
    readonly embeddedPort: number;
    /** Every Redis key (read models, schedules) starts with this (`READ_MODEL_KEY_ROOT`): one Redis can serve several deployments or test runs. */
    readonly readModelKeyRoot: string;
    /** `REDIS_SENTINELS` + `REDIS_MASTER_NAME`: find the primary through Sentinel (then `url`'s host is not used). */
    readonly sentinel: RedisSentinelSettings | undefined;
  };
  readonly notifications: {
    /** `NOTIFY_WEBHOOK_URL`: notifications are also POSTed there; unset: the log channel only. */
    readonly webhookUrl: string | undefined;
    /** Per delivery attempt. */
    readonly webhookTimeoutMs: number;
    /** Attempts per notification (the first included) before the delivery is recorded as failed. */
    readonly webhookAttempts: number;
    /** `NOTIFY_WEBHOOK_SECRET`: deliveries are signed with it (Standard Webhooks); unset: unsigned. */
    readonly webhookSecret: string | undefined;
  };
  readonly auth: AuthSettings;
  /**
   * Keys the derivation of reservation ids from Idempotency-Keys: IDEMPOTENCY_SECRET, else derived
   * from AUTH_SECRET (so rotating AUTH_SECRET without setting this changes those ids).
   */
  readonly idempotencySecret: string;
  /** A consumer group with events waiting and no progress for this long is reported not ready. */
  readonly subscriptionStallMs: number;
  /** Unpaid reservations one customer may keep at once across products; 0 for no cap. */
  readonly maxUnpaidHoldsPerCustomer: number;
  /** On SIGTERM/SIGINT, how long requests in flight may take to finish before they are answered 503. */
  readonly shutdownGraceMs: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const port = z.coerce.number().int().min(0).max(65_535);

const sizeUnits: Readonly<Record<string, number>> = { b: 1, kb: 1024, mb: 1024 * 1024 };

/** `65536`, `64kb`, `1mb` (case-insensitive) to bytes. */
const byteSize = z
  .string()
  .regex(/^\d+\s*(b|kb|mb)?$/i, "expected a size such as 65536, 64kb or 1mb")
  .transform((text) => {
    const [, digits = "0", unit = "b"] = /^(\d+)\s*([a-z]*)$/i.exec(text) ?? [];
    return Number(digits) * (sizeUnits[unit.toLowerCase()] ?? 1);
  })
  .pipe(
    z
      .number()
      .int()
      .min(1)
      .max(16 * 1024 * 1024),
  );

/** `host:port,host:port` (the port defaults to Sentinel's 26379; IPv6 hosts in brackets). */
const sentinelList = z.string().transform((text, context) => {
  const sentinels: { host: string; port: number }[] = [];
  for (const entry of text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")) {
    const match = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(entry);
    const host = match?.[1] ?? match?.[2];
    const port = Number(match?.[3] ?? 26379);
    if (!host || port < 1 || port > 65_535) {
      context.addIssue({ code: "custom", message: `expected host:port, got "${entry}"` });
      return z.NEVER;
    }
    sentinels.push({ host, port });
  }
  if (sentinels.length === 0) {
    context.addIssue({ code: "custom", message: "expected at least one host:port" });
    return z.NEVER;
  }
  return sentinels;
});

const EnvSchema = z.object({
  NODE_ENV: z.string().default("development"),
  PORT: port.default(3000),
  HOST: z.string().min(1).default("127.0.0.1"),
  EVENTSTORE_URL: z.string().min(1).optional(),
  DATA_DIR: z.string().min(1).default("./data"),
  EMBEDDED_EVENTSTORE_PORT: port.default(2113),
  REDIS_URL: z.string().min(1).optional(),
  EMBEDDED_REDIS_PORT: port.default(0),
  REDIS_SENTINELS: sentinelList.optional(),
  REDIS_MASTER_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/, "letters, digits and _ . - only")
    .optional(),
  AUTH_SECRET: z.string().min(1).optional(),
  IDEMPOTENCY_SECRET: z.string().min(16, "use at least 16 characters").optional(),
  AUTH_ISSUER: z.string().min(1).optional(),
  AUTH_AUDIENCE: z.string().min(1).optional(),
  AUTH_MAX_TOKEN_LIFETIME_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(365 * 24 * 3600)
    .default(24 * 3600),
  ROLE: z.enum(["api", "worker", "all"]).default("all"),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  HTTP_BODY_LIMIT: byteSize.default(64 * 1024),
  ADMISSION_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(10_000).default(64),
  ADMISSION_MAX_QUEUED: z.coerce.number().int().min(0).max(100_000).default(256),
  ADMISSION_QUEUE_TIMEOUT_MS: z.coerce.number().int().min(0).max(60_000).default(250),
  ADMISSION_MAX_PER_USER: z.coerce.number().int().min(1).max(10_000).default(32),
  MAX_UNPAID_HOLDS_PER_CUSTOMER: z.coerce.number().int().min(0).max(1_000_000).default(100),
  METRICS_TOKEN: z.string().min(16, "use at least 16 characters").optional(),
  SUBSCRIPTION_STALL_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  HTTP_BODY_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  READ_MODEL_KEY_ROOT: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,100}$/, "letters, digits and _ . : - only")
    .default("rm"),
  NOTIFY_WEBHOOK_URL: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }).optional(),
  NOTIFY_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  NOTIFY_WEBHOOK_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(4),
  // Standard Webhooks' form: "whsec_" and at least 24 random bytes in base64.
  NOTIFY_WEBHOOK_SECRET: z
    .string()
    .regex(
      /^whsec_[A-Za-z0-9+/]{32,}={0,2}$/,
      "expected whsec_ followed by at least 24 bytes in base64 (e.g. whsec_$(openssl rand -base64 32))",
    )
    .optional(),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(600_000).default(10_000),
});

/** Reads the environment; throws `ConfigError` naming every bad variable. Empty values count as unset. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.map(String).join(".")}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join("; ")}`);
  }
  const vars = parsed.data;
  const production = vars.NODE_ENV === "production";
  if (production && vars.AUTH_SECRET === undefined) {
    throw new ConfigError("AUTH_SECRET must be set when NODE_ENV=production (the HS256 key for bearer tokens)");
  }
  if (production && vars.NOTIFY_WEBHOOK_URL !== undefined && vars.NOTIFY_WEBHOOK_SECRET === undefined) {
    throw new ConfigError(
      "NOTIFY_WEBHOOK_SECRET must be set when NOTIFY_WEBHOOK_URL is set and NODE_ENV=production (receivers verify deliveries with it)",
    );
  }
  if (production && vars.AUTH_SECRET !== undefined && vars.AUTH_SECRET.length < PRODUCTION_MIN_SECRET_LENGTH) {
    throw new ConfigError(`AUTH_SECRET must be at least ${PRODUCTION_MIN_SECRET_LENGTH} characters when NODE_ENV=production`);
  }
  if ((vars.REDIS_SENTINELS === undefined) !== (vars.REDIS_MASTER_NAME === undefined)) {
    throw new ConfigError("REDIS_SENTINELS and REDIS_MASTER_NAME go together: the sentinels to ask, and the name they know the primary by");
  }
  return {
    nodeEnv: vars.NODE_ENV,
    role: vars.ROLE,
    logLevel: vars.LOG_LEVEL,
    http: {
      host: vars.HOST,
      port: vars.PORT,
      bodyLimitBytes: vars.HTTP_BODY_LIMIT,
      admission: {
        maxInFlight: vars.ADMISSION_MAX_IN_FLIGHT,
        maxQueued: vars.ADMISSION_MAX_QUEUED,
        queueTimeoutMs: vars.ADMISSION_QUEUE_TIMEOUT_MS,
        maxPerPrincipal: vars.ADMISSION_MAX_PER_USER,
      },
      bodyTimeoutMs: vars.HTTP_BODY_TIMEOUT_MS,
      headersTimeoutMs: vars.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: vars.HTTP_REQUEST_TIMEOUT_MS,
      metricsToken: vars.METRICS_TOKEN,
    },
    eventStore: { url: vars.EVENTSTORE_URL, dataDir: vars.DATA_DIR, embeddedPort: vars.EMBEDDED_EVENTSTORE_PORT },
    redis: {
      url: vars.REDIS_URL,
      embeddedPort: vars.EMBEDDED_REDIS_PORT,
      readModelKeyRoot: vars.READ_MODEL_KEY_ROOT,
      sentinel:
        vars.REDIS_SENTINELS && vars.REDIS_MASTER_NAME
          ? { sentinels: vars.REDIS_SENTINELS, masterName: vars.REDIS_MASTER_NAME }
          : undefined,
    },
    notifications: {
      webhookUrl: vars.NOTIFY_WEBHOOK_URL,
      webhookTimeoutMs: vars.NOTIFY_WEBHOOK_TIMEOUT_MS,
      webhookAttempts: vars.NOTIFY_WEBHOOK_ATTEMPTS,
      webhookSecret: vars.NOTIFY_WEBHOOK_SECRET,
    },
    auth: {
      secret: vars.AUTH_SECRET ?? DEVELOPMENT_AUTH_SECRET,
      usingDevelopmentSecret: vars.AUTH_SECRET === undefined,
      tokens: { maxLifetimeSeconds: vars.AUTH_MAX_TOKEN_LIFETIME_SECONDS, issuer: vars.AUTH_ISSUER, audience: vars.AUTH_AUDIENCE },
    },
    subscriptionStallMs: vars.SUBSCRIPTION_STALL_TIMEOUT_MS,
    maxUnpaidHoldsPerCustomer: vars.MAX_UNPAID_HOLDS_PER_CUSTOMER,
    shutdownGraceMs: vars.SHUTDOWN_GRACE_MS,
    idempotencySecret:
      vars.IDEMPOTENCY_SECRET ??
      createHmac("sha256", vars.AUTH_SECRET ?? DEVELOPMENT_AUTH_SECRET)
        .update("reservations: idempotency ids")
        .digest("hex"),
  };
}
