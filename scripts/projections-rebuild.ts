/**
 * Rebuilds read-model projections from the event log while the service keeps running:
 *
 *   npm run projections:rebuild -- mypage            (or lists, notifications, all; several may be given)
 *   npm run projections:rebuild -- all --batch-size 1000
 *
 * Keys live under READ_MODEL_KEY_ROOT (`rm`), or `--key-root`. Connects to EVENTSTORE_URL, or — when it is unset — to the embedded server of the running
 * service on 127.0.0.1:EMBEDDED_EVENTSTORE_PORT (it never starts one of its own), and to REDIS_URL, or —
 * when it is unset — to the running service's managed Redis (found by its pid file under DATA_DIR/redis).
 * Progress (events/s, `$all` position) goes to stderr; the result is one JSON line on stdout.
 */
import { EventStoreDBClient } from "@eventstore/db-client";
import { PROJECTION_NAMES, type ProjectionName } from "../projections/keys.js";
import { rebuildProjections } from "../projections/rebuild.js";
import { loadConfig } from "../src/config.js";
import { createRedis } from "../src/infrastructure/redis.js";
import { runningManagedRedisUrl } from "../src/infrastructure/embedded-redis/running-redis.js";
import { loadDotEnv } from "../src/env-file.js";
import { exitOnHelp } from "./lib/help.js";
import { runCommand } from "./lib/run-command.js";

loadDotEnv();

const USAGE = `usage: npm run projections:rebuild -- <${PROJECTION_NAMES.join("|")}|all>... [--batch-size N] [--key-root ROOT]`;

exitOnHelp(`${USAGE}

Rebuilds read models from the event log while the service runs (a new version is filled, then
switched to). Connects to EVENTSTORE_URL, else the service's embedded server on
127.0.0.1:EMBEDDED_EVENTSTORE_PORT, and to REDIS_URL; keys under READ_MODEL_KEY_ROOT or --key-root.
`);

interface Arguments {
  readonly projections: ProjectionName[];
  readonly batchSize: number;
  /** Overrides READ_MODEL_KEY_ROOT. */
  readonly keyRoot: string | undefined;
}

const isProjectionName = (value: string): value is ProjectionName => (PROJECTION_NAMES as readonly string[]).includes(value);

function parseArguments(argv: readonly string[]): Arguments {
  const projections = new Set<ProjectionName>();
  let batchSize = 500;
  let keyRoot: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? "";
    if (arg === "--batch-size") {
      batchSize = Number(argv[(i += 1)]);
      if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
        throw new Error("--batch-size must be an integer in 1..10000");
    } else if (arg === "--key-root") {
      keyRoot = argv[(i += 1)];
      if (keyRoot === undefined || keyRoot === "") throw new Error("--key-root needs a value");
    } else if (arg === "all") {
      for (const name of PROJECTION_NAMES) projections.add(name);
    } else if (isProjectionName(arg)) {
      projections.add(arg);
    } else {
      throw new Error(`unknown argument ${arg}`);
    }
  }
  if (projections.size === 0) throw new Error("name at least one projection");
  return { projections: [...projections], batchSize, keyRoot };
}

const percent = (position: bigint, head: bigint): string => (head > 0n ? `${Number((position * 1000n) / head) / 10}%` : "-");

async function main(): Promise<number> {
  let args: Arguments;
  try {
    args = parseArguments(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfig();
  const connectionString = config.eventStore.url ?? `esdb://127.0.0.1:${config.eventStore.embeddedPort}?tls=false`;
  const client = EventStoreDBClient.connectionString(connectionString);
  // Behind Sentinel the sentinels name the server; otherwise REDIS_URL, or the running service's managed Redis.
  const redisUrl =
    config.redis.url ?? (config.redis.sentinel ? "redis://127.0.0.1:6379" : await runningManagedRedisUrl(config.eventStore.dataDir));
  if (redisUrl === undefined) {
    process.stderr.write(
      `no REDIS_URL, and no managed Redis of a running service under ${config.eventStore.dataDir}/redis: start the service first\n`,
    );
    await client.dispose();
    return 1;
  }
  const redis = createRedis(redisUrl, config.redis.sentinel);
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    process.stderr.write(`rebuilding ${args.projections.join(", ")} from ${connectionString} into ${redisUrl}\n`);
    const result = await rebuildProjections({
      client,
      redis,
      projections: args.projections,
      batchSize: args.batchSize,
      keyRoot: args.keyRoot ?? config.redis.readModelKeyRoot,
      onProgress: (progress) => {
        process.stderr.write(
          `  ${progress.read} events read, ${progress.applied} applied, ${progress.eventsPerSecond} events/s, ` +
            `position ${progress.position}/${progress.head} (${percent(progress.position, progress.head)}), ${(progress.elapsedMs / 1000).toFixed(1)} s\n`,
        );
      },
    });
    for (const projection of result.projections) {
      process.stderr.write(
        `  ${projection.projection}: live ${projection.previous ?? "(none)"} -> ${projection.version}, ${projection.deletedKeys} old keys deleted\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`rebuild failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    redis.disconnect();
    await client.dispose();
  }
}

runCommand(main);
