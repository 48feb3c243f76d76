import { EventStoreDBClient } from "@eventstore/db-client";
import { startEmbeddedEventStoreInWorker, type EmbeddedEventStore } from "../../embedded-eventstore/index.js";

export interface EventStoreSettings {
  /** A real EventStoreDB; when absent the embedded server is started. */
  readonly url?: string | undefined;
  readonly dataDir: string;
  readonly embeddedPort: number;
  /** Embedded only: keep nothing on disk (tests). */
  readonly inMemory?: boolean;
  /**
   * Embedded only: called if the server's worker thread dies while the app runs. Without it, the
   * error is rethrown on the main thread, so the process fails loudly instead of serving without a store.
   */
  readonly onEmbeddedCrash?: (error: Error) => void;
}

export interface EventStoreConnection {
  readonly client: EventStoreDBClient;
  readonly connectionString: string;
  /** Set when this process runs the embedded server (in a worker thread of its own). */
  readonly embedded: EmbeddedEventStore | undefined;
  close(): Promise<void>;
}

/** The only place that knows whether the event store is a real EventStoreDB or the embedded one. */
export const connectEventStore = async (settings: EventStoreSettings): Promise<EventStoreConnection> => {
  const embedded =
    settings.url === undefined
      ? await startEmbeddedEventStoreInWorker({
          port: settings.embeddedPort,
          // As the docker-compose EventStoreDB does, so `$ce-`, `$et-`, `$bc-` and `$streams` can be browsed.
          runProjections: "All",
          ...(settings.inMemory ? { inMemory: true } : { dataDir: settings.dataDir }),
          ...(settings.onEmbeddedCrash ? { onCrash: settings.onEmbeddedCrash } : {}),
        })
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
