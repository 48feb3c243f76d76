import { EventStoreDBClient } from "@eventstore/db-client";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../embedded-eventstore/index.js";

export interface EventStoreSettings {
  /** A real EventStoreDB; when absent the embedded server is started. */
  readonly url?: string | undefined;
  readonly dataDir: string;
  readonly embeddedPort: number;
  /** Embedded only: keep nothing on disk (tests). */
  readonly inMemory?: boolean;
}

export interface EventStoreConnection {
  readonly client: EventStoreDBClient;
  readonly connectionString: string;
  /** Set when this process runs the embedded server. */
  readonly embedded: EmbeddedEventStore | undefined;
  close(): Promise<void>;
}

/** The only place that knows whether the event store is a real EventStoreDB or the embedded one. */
export const connectEventStore = async (settings: EventStoreSettings): Promise<EventStoreConnection> => {
  const embedded =
    settings.url === undefined
      ? await startEmbeddedEventStore(
          settings.inMemory ? { port: settings.embeddedPort, inMemory: true } : { port: settings.embeddedPort, dataDir: settings.dataDir },
        )
      : undefined;
  const connectionString = settings.url ?? embedded?.connectionString ?? "";
  const client = EventStoreDBClient.connectionString(connectionString);
  return {
    client,
    connectionString,
    embedded,
    close: async () => {
      await client.dispose();
      await embedded?.stop();
    },
  };
};
