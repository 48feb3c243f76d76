/**
 * Preloaded by the benchmark scripts (`tsx --import ./bench/lib/test-redis.ts …`, see package.json):
 * without `REDIS_URL` they get a throwaway managed redis-server on a free port, exactly as the test
 * run does, stopped when the benchmark exits (or by its watchdog when it is killed).
 */
import startTestRedis from "../../tests/support/redis-global-setup.js";

const stop = await startTestRedis();
if (stop !== undefined) {
  // Redis goes with the process by itself (exit hook, watchdog); a normal end also removes its folder.
  process.once("beforeExit", () => void stop());
}
