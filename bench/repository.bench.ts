/**
 * The aggregate repository alone: commands per second through `AggregateRepository.handle` against
 * the embedded EventStoreDB started in this process, in memory. No HTTP, no services: what one
 * process's write side can push through one client. Prints figures; asserts nothing.
 *
 *   npx tsx bench/repository.bench.ts [--duration 5] [--concurrency 32] [--products 64] [--src <dir>] [--copy map]
 *
 * Scenarios (every product's state is cached before timing starts, as on a warm API node):
 *  1. uncontended: `--concurrency` loops hold 1 unit each on their own products, round-robin;
 *  2. hot stream: the same loops, all on one product.
 * `--src` points at another checkout's `src/` (e.g. /work/main/src) to measure the code there with
 * the same harness; only the repository's original `handle(id, decide, metadata)` is used.
 * `--copy map` gives the product aggregate a `copyState` that copies the allocations map only,
 * instead of the repository's default `structuredClone` (older code ignores it).
 */
import { randomUUID } from "node:crypto";
import { cpus } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { EventStoreDBClient } from "@eventstore/db-client";
import type { ProductCommand, ProductEvent, ProductState } from "../src/domain/index.js";
import type { AggregateRepository } from "../src/infrastructure/eventstore/aggregate-repository.js";
import type { AggregateType, CommandMetadata } from "../src/core/repository.js";
import type { startEmbeddedEventStore as StartEmbedded } from "../src/embedded-eventstore/index.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    products: { type: "string", default: "64" },
    src: { type: "string", default: path.resolve(import.meta.dirname, "../src") },
    copy: { type: "string", default: "clone" },
  },
});
const durationMs = Number(values.duration) * 1000;
const concurrency = Number(values.concurrency);
const productCount = Number(values.products);
if (![durationMs, concurrency, productCount].every((n) => Number.isFinite(n) && n > 0)) {
  throw new Error("--duration, --concurrency and --products take positive numbers");
}

type ProductRepository = AggregateRepository<ProductCommand, ProductEvent, ProductState>;
type RepositoryConstructor = new (
  client: EventStoreDBClient,
  type: AggregateType<ProductCommand, ProductEvent, ProductState>,
) => ProductRepository;

/** Loaded at run time so that `--src` can measure another checkout with this same harness. */
const load = async <T>(relative: string): Promise<T> => (await import(pathToFileURL(path.join(values.src, relative)).href)) as T;

const { startEmbeddedEventStore } = await load<{ startEmbeddedEventStore: typeof StartEmbedded }>("embedded-eventstore/index.ts");
const { AggregateRepository: Repository } = await load<{ AggregateRepository: RepositoryConstructor }>(
  "infrastructure/eventstore/aggregate-repository.ts",
);
const { productAggregate } = await load<{ productAggregate: AggregateType<ProductCommand, ProductEvent, ProductState> }>(
  "application/aggregates.ts",
);

/** The product's only state evolved in place is its allocations map, whose values are replaced, never changed. */
const copyAllocations = (state: ProductState): ProductState =>
  "allocations" in state ? { ...state, allocations: new Map(state.allocations) } : state;
const aggregate = values.copy === "map" ? { ...productAggregate, copyState: copyAllocations } : productAggregate;

const metadata = (): CommandMetadata => ({
  correlationId: randomUUID(),
  causationId: randomUUID(),
  actor: { id: "bench", role: "system" },
});

const register = (repository: ProductRepository, productId: string): Promise<unknown> =>
  repository.handle(
    productId,
    () => ({
      type: "RegisterProduct",
      data: { productId, sellerId: "bench-seller", name: "bench", capacity: 1_000_000, unitPrice: 100, now: new Date().toISOString() },
    }),
    metadata(),
  );

const hold = (repository: ProductRepository, productId: string): Promise<unknown> =>
  repository.handle(
    productId,
    () => ({ type: "HoldUnits", data: { reservationId: randomUUID(), quantity: 1, now: new Date().toISOString() } }),
    metadata(),
  );

/** `concurrency` loops issue commands back to back for `durationMs`; returns commands per second. */
const run = async (next: (loop: number, sequence: number) => Promise<unknown>): Promise<{ rate: number; failures: number }> => {
  let done = 0;
  let failures = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      for (let sequence = 0; performance.now() < deadline; sequence += 1) {
        try {
          await next(loop, sequence);
          done += 1;
        } catch {
          failures += 1;
        }
      }
    }),
  );
  return { rate: done / ((performance.now() - started) / 1000), failures };
};

const server = await startEmbeddedEventStore({ port: 0, inMemory: true });
const client = EventStoreDBClient.connectionString(server.connectionString);
try {
  const repository = new Repository(client, aggregate);
  const products = Array.from({ length: productCount }, () => randomUUID());
  for (const productId of products) await register(repository, productId);
  const hot = randomUUID();
  await register(repository, hot);
  // Warm-up: the client's channel and the JIT, outside the timed runs.
  await Promise.all(products.map((productId) => hold(repository, productId)));

  console.log(
    `repository bench: src=${values.src} copy=${values.copy} node=${process.version} cpus=${cpus().length} concurrency=${concurrency} duration=${durationMs / 1000}s`,
  );
  const uncontended = await run((loop, sequence) => hold(repository, products[(loop + sequence * concurrency) % productCount] ?? hot));
  console.log(`uncontended (${productCount} products): ${uncontended.rate.toFixed(0)} commands/s, ${uncontended.failures} failed`);
  const hotRun = await run(() => hold(repository, hot));
  console.log(`hot stream (1 product):       ${hotRun.rate.toFixed(0)} commands/s, ${hotRun.failures} failed`);
} finally {
  await client.dispose();
  await server.stop();
}
