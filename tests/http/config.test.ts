import { describe, expect, it } from "vitest";
import { ConfigError, DEVELOPMENT_AUTH_SECRET, loadConfig } from "../../src/config.js";

describe("loadConfig", () => {
  it("applies API.md's defaults", () => {
    expect(loadConfig({})).toEqual({
      nodeEnv: "development",
      role: "all",
      logLevel: "info",
      http: {
        host: "127.0.0.1",
        port: 3000,
        bodyLimitBytes: 65_536,
        admission: { maxInFlight: 64, maxQueued: 256, queueTimeoutMs: 250, maxPerPrincipal: 32 },
        bodyTimeoutMs: 10_000,
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 30_000,
      },
      eventStore: { url: undefined, dataDir: "./data", embeddedPort: 2113 },
      redis: { url: undefined, embeddedPort: 0, readModelKeyRoot: "rm", sentinel: undefined },
      notifications: { webhookUrl: undefined, webhookTimeoutMs: 5000, webhookAttempts: 4, webhookSecret: undefined },
      auth: { secret: DEVELOPMENT_AUTH_SECRET, usingDevelopmentSecret: true, tokens: { maxLifetimeSeconds: 86_400 } },
      idempotencySecret: expect.stringMatching(/^[0-9a-f]{64}$/),
      subscriptionStallMs: 30_000,
      maxUnpaidHoldsPerCustomer: 100,
      shutdownGraceMs: 10_000,
    });
  });

  it("reads every variable", () => {
    const config = loadConfig({
      NODE_ENV: "production",
      PORT: "0",
      HOST: "0.0.0.0",
      EVENTSTORE_URL: "esdb://es:2113?tls=false",
      DATA_DIR: "/var/data",
      EMBEDDED_EVENTSTORE_PORT: "0",
      REDIS_URL: "redis://redis:6379",
      EMBEDDED_REDIS_PORT: "6400",
      READ_MODEL_KEY_ROOT: "staging:rm",
      AUTH_SECRET: "s".repeat(32),
      AUTH_ISSUER: "https://auth.example",
      IDEMPOTENCY_SECRET: "an-idempotency-secret-for-tests",
      SUBSCRIPTION_STALL_TIMEOUT_MS: "5000",
      MAX_UNPAID_HOLDS_PER_CUSTOMER: "7",
      AUTH_AUDIENCE: "reservations",
      AUTH_MAX_TOKEN_LIFETIME_SECONDS: "7200",
      ROLE: "worker",
      LOG_LEVEL: "debug",
      HTTP_BODY_LIMIT: "1mb",
      ADMISSION_MAX_IN_FLIGHT: "8",
      ADMISSION_MAX_QUEUED: "16",
      ADMISSION_QUEUE_TIMEOUT_MS: "50",
      ADMISSION_MAX_PER_USER: "3",
      HTTP_BODY_TIMEOUT_MS: "2000",
      HTTP_HEADERS_TIMEOUT_MS: "3000",
      HTTP_REQUEST_TIMEOUT_MS: "4000",
      NOTIFY_WEBHOOK_URL: "https://hooks.example/notify",
      NOTIFY_WEBHOOK_TIMEOUT_MS: "2000",
      NOTIFY_WEBHOOK_ATTEMPTS: "6",
      NOTIFY_WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      SHUTDOWN_GRACE_MS: "1500",
    });
    expect(config).toEqual({
      nodeEnv: "production",
      role: "worker",
      logLevel: "debug",
      http: {
        host: "0.0.0.0",
        port: 0,
        bodyLimitBytes: 1_048_576,
        admission: { maxInFlight: 8, maxQueued: 16, queueTimeoutMs: 50, maxPerPrincipal: 3 },
        bodyTimeoutMs: 2000,
        headersTimeoutMs: 3000,
        requestTimeoutMs: 4000,
      },
      eventStore: { url: "esdb://es:2113?tls=false", dataDir: "/var/data", embeddedPort: 0 },
      redis: { url: "redis://redis:6379", embeddedPort: 6400, readModelKeyRoot: "staging:rm", sentinel: undefined },
      notifications: {
        webhookUrl: "https://hooks.example/notify",
        webhookTimeoutMs: 2000,
        webhookAttempts: 6,
        webhookSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      },
      auth: {
        secret: "s".repeat(32),
        usingDevelopmentSecret: false,
        tokens: { maxLifetimeSeconds: 7200, issuer: "https://auth.example", audience: "reservations" },
      },
      idempotencySecret: "an-idempotency-secret-for-tests",
      subscriptionStallMs: 5000,
      maxUnpaidHoldsPerCustomer: 7,
      shutdownGraceMs: 1500,
    });
  });

  it("refuses to start in production without AUTH_SECRET, or with a short one", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/AUTH_SECRET must be set when NODE_ENV=production/);
    expect(() => loadConfig({ NODE_ENV: "production", AUTH_SECRET: "" })).toThrow(ConfigError);
    expect(() => loadConfig({ NODE_ENV: "production", AUTH_SECRET: "short" })).toThrow(/at least 32/);
  });

  it("refuses unsigned webhook deliveries in production", () => {
    const production = { NODE_ENV: "production", AUTH_SECRET: "x".repeat(32), NOTIFY_WEBHOOK_URL: "https://hooks.example/notify" };
    expect(() => loadConfig(production)).toThrow(/NOTIFY_WEBHOOK_SECRET must be set/);
    expect(
      loadConfig({ ...production, NOTIFY_WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }).notifications.webhookSecret,
    ).toMatch(/^whsec_/);
    // Development may try a webhook without one (the service warns at start).
    expect(loadConfig({ NOTIFY_WEBHOOK_URL: "https://hooks.example/notify" }).notifications.webhookSecret).toBeUndefined();
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ EVENTSTORE_URL: "", PORT: "", AUTH_SECRET: "" })).toMatchObject({
      eventStore: { url: undefined },
      http: { port: 3000 },
      auth: { usingDevelopmentSecret: true },
    });
  });

  it.each([
    ["65536", 65_536],
    ["64kb", 65_536],
    ["64KB", 65_536],
    ["2mb", 2_097_152],
    ["100b", 100],
  ])("reads HTTP_BODY_LIMIT=%s", (value, bytes) => {
    expect(loadConfig({ HTTP_BODY_LIMIT: value }).http.bodyLimitBytes).toBe(bytes);
  });

  it.each([
    ["PORT", "http"],
    ["PORT", "70000"],
    ["EMBEDDED_EVENTSTORE_PORT", "-1"],
    ["EMBEDDED_REDIS_PORT", "70000"],
    ["ROLE", "both"],
    ["LOG_LEVEL", "verbose"],
    ["HTTP_BODY_LIMIT", "lots"],
    ["HTTP_BODY_LIMIT", "0"],
    ["HTTP_BODY_LIMIT", "1gb"],
    ["READ_MODEL_KEY_ROOT", "has space"],
    ["NOTIFY_WEBHOOK_URL", "not a url"],
    ["NOTIFY_WEBHOOK_URL", "ftp://hooks.example/notify"],
    ["NOTIFY_WEBHOOK_TIMEOUT_MS", "5"],
    ["NOTIFY_WEBHOOK_ATTEMPTS", "0"],
    ["NOTIFY_WEBHOOK_SECRET", "not-a-whsec-secret"],
    ["NOTIFY_WEBHOOK_SECRET", "whsec_short"],
  ])("names the bad variable %s=%s", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`invalid configuration: ${name}`));
  });
});

describe("loadConfig: Redis behind Sentinel", () => {
  it("reads REDIS_SENTINELS (port 26379 when left out, IPv6 in brackets) and REDIS_MASTER_NAME", () => {
    const config = loadConfig({
      REDIS_SENTINELS: " sentinel-1:26379, sentinel-2 ,[fd00::7]:26380",
      REDIS_MASTER_NAME: "reservations",
    });
    expect(config.redis.sentinel).toEqual({
      sentinels: [
        { host: "sentinel-1", port: 26379 },
        { host: "sentinel-2", port: 26379 },
        { host: "fd00::7", port: 26380 },
      ],
      masterName: "reservations",
    });
  });

  it("has no Sentinel settings unless both are set", () => {
    expect(loadConfig({}).redis.sentinel).toBeUndefined();
  });

  it.each([
    [{ REDIS_SENTINELS: "sentinel-1:26379" }, /REDIS_SENTINELS and REDIS_MASTER_NAME go together/],
    [{ REDIS_MASTER_NAME: "reservations" }, /REDIS_SENTINELS and REDIS_MASTER_NAME go together/],
    [
      { REDIS_SENTINELS: "sentinel-1:port", REDIS_MASTER_NAME: "reservations" },
      /REDIS_SENTINELS: expected host:port, got "sentinel-1:port"/,
    ],
    [{ REDIS_SENTINELS: "sentinel-1:70000", REDIS_MASTER_NAME: "reservations" }, /REDIS_SENTINELS: expected host:port/],
    [{ REDIS_SENTINELS: " , ", REDIS_MASTER_NAME: "reservations" }, /REDIS_SENTINELS: expected at least one host:port/],
    [{ REDIS_SENTINELS: "sentinel-1", REDIS_MASTER_NAME: "my master" }, /REDIS_MASTER_NAME/],
  ])("refuses %o", (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
