/**
 * Throughput of the embedded EventStoreDB-compatible server through the real client.
 * Prints figures; asserts nothing. Usage: npm run bench:eventstore [-- --memory] [-- --events N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { EventStoreDBClient, FORWARDS, START, jsonEvent } from "@eventstore/db-client";
import { startEmbeddedEventStore } from "../src/embedded-eventstore/index.js";

const { values } = parseArgs({
  options: {
    memory: { type: "boolean", default: false },
    events: { type: "string", default: "5000" },
    concurrency: { type: "string", default: "16" },
  },
});
const total = Number(values.events);
const concurrency = Number(values.concurrency);

const dataDir = values.memory ? undefined : mkdtempSync(join(tmpdir(), "es-bench-"));
const store = await startEmbeddedEventStore(dataDir ? { port: 0, dataDir } : { port: 0, inMemory: true });
const client = EventStoreDBClient.connectionString(store.connectionString);

const event = (i: number) => jsonEvent({ type: "BenchEvent", data: { i, payload: "x".repeat(200) } });
const rate = (count: number, ms: number): string => `${Math.round((count / ms) * 1000).toLocaleString("en-US")}/s`;

const timed = async (label: string, count: number, run: () => Promise<void>): Promise<void> => {
  const started = performance.now();
  await run();
  const elapsed = performance.now() - started;
  console.log(`${label.padEnd(48)} ${String(count).padStart(7)} events  ${elapsed.toFixed(0).padStart(6)} ms  ${rate(count, elapsed)}`);
};

console.log(`embedded server, ${dataDir ? "durable (SQLite WAL, synchronous=FULL)" : "in memory"}, node ${process.version}`);
await client.appendToStream("warmup", event(0));

await timed("single-event appends, 1 writer", total, async () => {
  for (let i = 0; i < total; i += 1) await client.appendToStream("bench-single", event(i));
});

await timed(`single-event appends, ${concurrency} writers`, total, async () => {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, writer) => {
      while (next < total) {
        const i = next++;
        await client.appendToStream(`bench-concurrent-${writer}`, event(i));
      }
    }),
  );
});

const batchSize = 100;
await timed(`batched appends (${batchSize} events per append)`, total * 4, async () => {
  for (let i = 0; i < (total * 4) / batchSize; i += 1) {
    await client.appendToStream("bench-batched", Array.from({ length: batchSize }, (_, j) => event(i * batchSize + j)));
  }
});

await timed("read one stream forwards", total * 4, async () => {
  let count = 0;
  for await (const resolved of client.readStream("bench-batched", { direction: FORWARDS, fromRevision: START })) {
    if (resolved.event) count += 1;
  }
  if (count !== total * 4) throw new Error(`read ${count} events, expected ${total * 4}`);
});

const allCount = total * 6 + 1;
await timed("read $all forwards", allCount, async () => {
  let count = 0;
  for await (const resolved of client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: allCount })) {
    if (resolved.event) count += 1;
  }
});

await client.dispose();
await store.stop();
if (dataDir) rmSync(dataDir, { recursive: true, force: true });
