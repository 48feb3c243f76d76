/**
 * What the standard projections cost the embedded server's write path, measured on the log itself
 * (no gRPC, no client) so that the difference is not lost in a loaded machine's noise: the same
 * app-like events (JSON data, metadata with `$correlationId`) appended in groups as group commit
 * makes them, with the projections off and on, alternating rounds. Every eight events share a
 * correlation id, as a reservation's saga does. Prints figures; asserts nothing.
 *
 *   npx tsx bench/standard-projections.bench.ts [-- --events 20000] [-- --rounds 3] [-- --memory]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { EventLog, type AppendRequest } from "../src/embedded-eventstore/log/event-log.js";

const GROUP_SIZE = 16;

/** A saga writes several events under one correlation id: eight here. */
const EVENTS_PER_CORRELATION = 8;
let reservation = crypto.randomUUID();

const request = (index: number): AppendRequest => {
  if (index % EVENTS_PER_CORRELATION === 0) reservation = crypto.randomUUID();
  return {
    streamId: index % EVENTS_PER_CORRELATION === 0 ? `reservation-${reservation}` : `product-${index % 50}`,
    expected: { kind: "any" },
    events: [
      {
        id: crypto.randomUUID(),
        type: index % 2 === 0 ? "UnitsHeld" : "ReservationPlaced",
        contentType: "application/json",
        data: Buffer.from(JSON.stringify({ reservationId: reservation, quantity: 1, payload: "x".repeat(200) }), "utf8"),
        metadata: Buffer.from(JSON.stringify({ $correlationId: reservation, $causationId: crypto.randomUUID(), actor: "bench" }), "utf8"),
      },
    ],
  };
};

interface Round {
  readonly perSecond: number;
  readonly cpuMicrosPerEvent: number;
  readonly links: number;
}

const round = (projections: boolean, events: number, inMemory: boolean): Round => {
  const dataDir = inMemory ? undefined : mkdtempSync(join(tmpdir(), "projections-bench-"));
  const log = new EventLog({ ...(dataDir ? { dataDir } : {}), standardProjections: projections });
  try {
    const requests = Array.from({ length: events }, (_, index) => request(index));
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let index = 0; index < requests.length; index += GROUP_SIZE) log.appendGroup(requests.slice(index, index + GROUP_SIZE));
    const elapsed = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    const links = log.readAll(0, "forwards", Number.MAX_SAFE_INTEGER).length - events;
    return { perSecond: (events / elapsed) * 1000, cpuMicrosPerEvent: (cpu.user + cpu.system) / events, links };
  } finally {
    log.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
};

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "20000" },
    rounds: { type: "string", default: "3" },
    memory: { type: "boolean", default: false },
  },
});
const events = Number(values.events);
console.log(
  `EventLog.appendGroup, ${events} single-event appends in groups of ${GROUP_SIZE}, ` +
    `${values.memory ? "in memory" : "durable (SQLite WAL, synchronous=FULL)"}, node ${process.version}`,
);
for (let index = 0; index < Number(values.rounds); index += 1) {
  for (const projections of [false, true]) {
    const result = round(projections, events, values.memory);
    console.log(
      `projections ${projections ? "on " : "off"}  ${Math.round(result.perSecond).toLocaleString("en-US").padStart(8)} events/s  ` +
        `${result.cpuMicrosPerEvent.toFixed(1).padStart(6)} µs CPU/event  ${result.links} links`,
    );
  }
}
