/**
 * The standalone command (`npm run eventstore -- --port <p> --data <dir>` / `--memory`), and a crash test:
 * SIGKILL mid-stream, restart on the same data directory, every acknowledged append must be there.
 *
 * Embedded only (describe.skipIf(EVENTSTORE_URL)): these test the embedded server's own program and
 * storage; a real EventStoreDB is neither started nor killed by this suite.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANY, EventStoreDBClient, NO_STREAM, START, jsonEvent, type Position } from "@eventstore/db-client";
import {
  LISTENING_LINE,
  collect,
  comparePositions,
  isRealServer,
  readStreamEvents,
  spawnEventStoreCli,
  streamWith,
  testEvents,
  uniqueStream,
  type CliServer,
} from "./support.js";

describe.skipIf(isRealServer)("the eventstore command (embedded only; a real server is not spawned by tests)", () => {
  const running: CliServer[] = [];
  const clients: EventStoreDBClient[] = [];
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "esdb-cli-"));
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.dispose()));
    await Promise.allSettled(running.map((s) => s.stop("SIGKILL")));
    await rm(dataDir, { recursive: true, force: true });
  });

  async function spawn(args: string[]) {
    const server = await spawnEventStoreCli(args);
    running.push(server);
    const client = EventStoreDBClient.connectionString(server.connectionString);
    clients.push(client);
    return { server, client };
  }

  it("--memory --port 0 prints one `listening on esdb://127.0.0.1:<port>?tls=false` line with the real port, and serves", async () => {
    const { server, client } = await spawn(["--memory", "--port", "0"]);
    expect(server.port).toBeGreaterThan(0);
    expect(server.connectionString).toBe(`esdb://127.0.0.1:${server.port}?tls=false`);
    const stream = await streamWith(client, "cli-memory", 2);
    expect(await readStreamEvents(client, stream)).toHaveLength(2);
    expect(server.stdoutLines.filter((line) => LISTENING_LINE.test(line))).toHaveLength(1);
    const exit = await server.stop("SIGTERM");
    expect(exit.signal === "SIGTERM" || exit.code === 0).toBe(true);
  }, 90_000);

  it("after SIGKILL mid-stream, a restart on the same --data dir has every acknowledged event, in order, without gaps", async () => {
    let { server, client } = await spawn(["--port", "0", "--data", dataDir]);
    const stream = uniqueStream("cli-crash");
    const side = uniqueStream("cli-crash-side");
    const killAfter = 300 + Math.floor(Math.random() * 100);

    // writer 1: single events with exact expected revisions; writer 2: batches with ANY on another stream
    const acked: { id: string; revision: bigint; position: Position }[] = [];
    const ackedBatches: string[][] = [];
    let killed = false;
    const kill = () => {
      if (!killed) {
        killed = true;
        server.child.kill("SIGKILL");
      }
    };

    const writer1 = (async () => {
      for (let i = 0; ; i++) {
        const event = jsonEvent({ type: "Crash", data: { i } });
        const pending = client.appendToStream(stream, event, { expectedRevision: i === 0 ? NO_STREAM : BigInt(i - 1) });
        if (acked.length >= killAfter) kill(); // while this append is in flight
        try {
          const result = await pending;
          acked.push({ id: event.id, revision: result.nextExpectedRevision, position: result.position! });
        } catch {
          return;
        }
      }
    })();
    const writer2 = (async () => {
      for (;;) {
        const batch = testEvents(3, "Side");
        try {
          await client.appendToStream(side, batch, { expectedRevision: ANY });
          ackedBatches.push(batch.map((e) => e.id));
        } catch {
          return;
        }
      }
    })();
    await Promise.all([writer1, writer2]);
    expect(killed).toBe(true);
    const exit = await server.exited;
    expect(exit.signal).toBe("SIGKILL");
    expect(acked.length).toBeGreaterThanOrEqual(killAfter);
    await client.dispose();

    ({ server, client } = await spawn(["--port", "0", "--data", dataDir]));

    const events = await readStreamEvents(client, stream);
    // every acknowledged event, in order, at its revision and position
    expect(events.length).toBeGreaterThanOrEqual(acked.length);
    expect(events.length).toBeLessThanOrEqual(acked.length + 1); // plus at most the one in flight
    events.forEach((e, index) => {
      expect(e.event?.revision).toBe(BigInt(index)); // no gaps
      expect((e.event?.data as { i: number }).i).toBe(index);
    });
    acked.forEach((a, index) => {
      expect(a.revision).toBe(BigInt(index));
      expect(events[index]!.event!.id).toBe(a.id);
      expect(events[index]!.event!.position).toEqual(a.position);
    });

    const sideEvents = await readStreamEvents(client, side);
    const sideIds = sideEvents.map((e) => e.event!.id);
    const ackedSideIds = ackedBatches.flat();
    expect(sideIds.slice(0, ackedSideIds.length)).toEqual(ackedSideIds);
    expect(sideIds.length - ackedSideIds.length === 0 || sideIds.length - ackedSideIds.length === 3).toBe(true); // no torn batch

    // $all is readable end to end, positions strictly increasing
    const all = await collect(client.readAll({ fromPosition: START }), undefined, { timeoutMs: 30_000 });
    for (let i = 1; i < all.length; i++) {
      expect(comparePositions(all[i]!.event!.position, all[i - 1]!.event!.position)).toBeGreaterThan(0);
    }

    // and the server takes new appends at the right revision
    const next = await client.appendToStream(stream, jsonEvent({ type: "AfterCrash", data: {} }), {
      expectedRevision: BigInt(events.length - 1),
    });
    expect(next.nextExpectedRevision).toBe(BigInt(events.length));
    expect(comparePositions(next.position!, events.at(-1)!.event!.position!)).toBeGreaterThan(0);
    await server.stop("SIGTERM");
  }, 180_000);
});
