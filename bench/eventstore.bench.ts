/**
 * Throughput of the embedded EventStoreDB-compatible server through the real client, with the
 * server in a worker thread as the app runs it, and durable (SQLite WAL, synchronous=FULL) unless
 * `--memory`. Prints figures; asserts nothing.
 *
 *   npm run bench:eventstore [-- --memory] [-- --seconds 3] [-- --projections]
 *
 * `--projections` runs the standard projections (`$ce-`, `$et-`, `$bc-`, `$streams`), as `npm start` does.
 *
 * `runEventStoreBench()` returns the same figures for the project's overall benchmark.
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { EventStoreDBClient, FORWARDS, START, jsonEvent } from "@eventstore/db-client";
import { startEmbeddedEventStoreInWorker } from "../src/embedded-eventstore/index.js";

export interface BenchFigure {
  readonly label: string;
  readonly perSecond: number;
}

export interface EventStoreBenchOptions {
  /** Keep the log in memory instead of a durable data directory. Default false. */
  readonly inMemory?: boolean;
  /** How long each append scenario runs. Default 3. */
  readonly seconds?: number;
  /** Run the standard projections, as the app's embedded server does. Default false. */
  readonly projections?: boolean;
  /** Called with each figure as soon as it is measured. */
  readonly onFigure?: (figure: BenchFigure) => void;
}

const event = (i: number) => jsonEvent({ type: "BenchEvent", data: { i, payload: "x".repeat(200) } });

/** Runs `writers` loops of single-event appends for `seconds`; answers acknowledged appends per second. */
const concurrentAppends = async (
  client: EventStoreDBClient,
  writers: number,
  seconds: number,
  streamOf: (writer: number) => string,
): Promise<number> => {
  let appended = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      while (performance.now() < deadline) {
        await client.appendToStream(streamOf(writer), event(appended));
        appended += 1;
      }
    }),
  );
  return (appended / (performance.now() - started)) * 1000;
};

const countRead = async (read: AsyncIterable<{ event?: unknown }>): Promise<number> => {
  let count = 0;
  for await (const resolved of read) if (resolved.event) count += 1;
  return count;
};

export async function runEventStoreBench(options: EventStoreBenchOptions = {}): Promise<BenchFigure[]> {
  const seconds = options.seconds ?? 3;
  const dataDir = options.inMemory ? undefined : mkdtempSync(join(tmpdir(), "es-bench-"));
  const projections = options.projections ? { runProjections: "All" as const } : {};
  const store = await startEmbeddedEventStoreInWorker(
    dataDir ? { port: 0, dataDir, ...projections } : { port: 0, inMemory: true, ...projections },
  );
  const client = EventStoreDBClient.connectionString(store.connectionString);
  const figures: BenchFigure[] = [];
  const report = (label: string, perSecond: number): void => {
    const figure = { label, perSecond: Math.round(perSecond) };
    figures.push(figure);
    options.onFigure?.(figure);
  };
  try {
    await client.appendToStream("warmup", event(0));
    const run = Date.now().toString(36);

    for (const writers of [1, 16, 64]) {
      report(
        `single-event appends, ${writers} writer${writers > 1 ? "s" : ""}, separate streams`,
        await concurrentAppends(client, writers, seconds, (writer) => `bench-${run}-w${writers}-${writer}`),
      );
      if (writers > 1) {
        report(
          `single-event appends, ${writers} writers, one stream`,
          await concurrentAppends(client, writers, seconds, () => `bench-${run}-shared-${writers}`),
        );
      }
    }

    const batchSize = 100;
    const batchedStream = `bench-${run}-batched`;
    let batched = 0;
    const batchStart = performance.now();
    while (performance.now() < batchStart + seconds * 1000) {
      await client.appendToStream(
        batchedStream,
        Array.from({ length: batchSize }, (_, j) => event(batched + j)),
      );
      batched += batchSize;
    }
    report(`batched appends (${batchSize} events per append), events`, (batched / (performance.now() - batchStart)) * 1000);

    const readStart = performance.now();
    const readCount = await countRead(client.readStream(batchedStream, { direction: FORWARDS, fromRevision: START }));
    report("read one stream forwards, events", (readCount / (performance.now() - readStart)) * 1000);

    const allStart = performance.now();
    const allCount = await countRead(client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: 50_000 }));
    report("read $all forwards, events", (allCount / (performance.now() - allStart)) * 1000);
  } finally {
    await client.dispose();
    await store.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  return figures;
}

const runDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (runDirectly) {
  exitOnHelp(`
usage: npm run bench:eventstore [-- --memory] [--seconds 3]

Appends/s and reads/s of the embedded server through the real client (worker thread, durable unless --memory).
`);
  const { values } = parseArgs({
    options: {
      memory: { type: "boolean", default: false },
      seconds: { type: "string", default: "3" },
      projections: { type: "boolean", default: false },
    },
  });
  console.log(
    `embedded server in a worker thread, ${values.memory ? "in memory" : "durable (SQLite WAL, synchronous=FULL)"}, ` +
      `standard projections ${values.projections ? "on" : "off"}, node ${process.version}`,
  );
  await runEventStoreBench({
    inMemory: values.memory,
    projections: values.projections,
    seconds: Number(values.seconds),
    onFigure: (figure) => console.log(`${figure.label.padEnd(60)} ${figure.perSecond.toLocaleString("en-US").padStart(10)}/s`),
  });
}
