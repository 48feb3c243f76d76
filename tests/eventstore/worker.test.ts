/**
 * The app's connection runs the embedded server in a worker thread of its own (embedded only), so
 * that SQLite commits never block the API's event loop; stopping it leaves nothing running.
 */
import { createServer, connect } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { threadId } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { jsonEvent } from "@eventstore/db-client";
import { connectEventStore } from "../../src/infrastructure/eventstore/connect.js";
import { isRealServer, readStreamEvents } from "./support.js";

/** Resources of this process that belong to worker threads (each worker holds a MessagePort). */
const workerPorts = (): number => process.getActiveResourcesInfo().filter((name) => name === "MessagePort").length;

const refusesConnections = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });

describe.skipIf(isRealServer)("the embedded server in a worker thread", () => {
  it("runs on another thread than the caller, serves the client, and stops completely", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "es-worker-"));
    const portsBefore = workerPorts();
    const connection = await connectEventStore({ dataDir, embeddedPort: 0 });
    try {
      const embedded = connection.embedded;
      expect(embedded).toBeDefined();
      expect(embedded!.threadId).not.toBe(threadId);
      expect(embedded!.threadId).toBeGreaterThan(0);
      expect(connection.connectionString).toBe(`esdb://127.0.0.1:${embedded!.port}?tls=false`);

      await connection.client.appendToStream("worker-stream", [
        jsonEvent({ type: "A", data: { n: 1 } }),
        jsonEvent({ type: "B", data: { n: 2 } }),
      ]);
      const events = await readStreamEvents(connection.client, "worker-stream");
      expect(events.map((event) => event.event?.type)).toEqual(["A", "B"]);
    } finally {
      await connection.close();
    }
    expect(await refusesConnections(connection.embedded!.port)).toBe(true);
    expect(workerPorts()).toBe(portsBefore);

    // What was acknowledged is on disk: a second start on the same directory reads it back.
    const again = await connectEventStore({ dataDir, embeddedPort: 0 });
    try {
      expect(await readStreamEvents(again.client, "worker-stream")).toHaveLength(2);
    } finally {
      await again.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("a server that cannot start rejects the connection and leaves no worker behind", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const address = taken.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const portsBefore = workerPorts();
    try {
      await expect(connectEventStore({ dataDir: "unused", embeddedPort: port, inMemory: true })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      taken.close();
    }
    expect(workerPorts()).toBe(portsBefore);
  });
});
