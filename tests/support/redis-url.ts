/**
 * The Redis of this test run: the one tests/support/redis-global-setup.ts started (or the user's
 * `REDIS_URL`). Benchmarks that borrow test helpers run outside vitest and fall back to the
 * conventional local address.
 */
export const TEST_REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
