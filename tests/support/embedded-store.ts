import { EventStoreDBClient } from "@eventstore/db-client";
import { afterAll, beforeAll } from "vitest";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";

/**
 * The embedded event store in memory for the test file, with a client, handed to `started` in
 * beforeAll; both are closed in afterAll.
 */
export function useEmbeddedStore(started: (store: { server: EmbeddedEventStore; client: EventStoreDBClient }) => void): void {
  let server: EmbeddedEventStore | undefined;
  let client: EventStoreDBClient | undefined;
  beforeAll(async () => {
    server = await startEmbeddedEventStore({ port: 0, inMemory: true });
    client = EventStoreDBClient.connectionString(server.connectionString);
    started({ server, client });
  }, 60_000);
  afterAll(async () => {
    await client?.dispose();
    await server?.stop();
  }, 60_000);
}
