import { createServer } from "node:net";
import { threadId } from "node:worker_threads";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { EventLog } from "./log/event-log.js";
import { GroupCommit } from "./log/group-commit.js";
import { appendHandler, batchAppendHandler } from "./grpc/streams/append.js";
import { deleteHandler, tombstoneHandler } from "./grpc/streams/delete.js";
import { readHandler } from "./grpc/streams/read.js";
import { getSupportedMethodsHandler } from "./grpc/server-features.js";
import { persistentGrpc, serverFeaturesGrpc, streamsGrpc } from "./grpc/proto.js";
import { PersistentSubscriptions } from "./persistent/persistent-subscriptions.js";
import { persistentSubscriptionsService } from "./grpc/persistent/service.js";
import { writeSystemStreams } from "./log/system-streams.js";
import { createHttpApi } from "./http/http-api.js";
import { routeByProtocol } from "./http/protocol-sniffer.js";

export interface EmbeddedEventStoreOptions {
  /** The port of gRPC and of the HTTP API (and stream browser) alike; 0 picks a free one. Default 2113, EventStoreDB's. */
  readonly port?: number;
  readonly host?: string;
  /** Directory of the durable log. Required unless `inMemory`. */
  readonly dataDir?: string;
  /** Keep everything in memory: for tests and throwaway servers. */
  readonly inMemory?: boolean;
  /** Largest total size of one append's events (data + metadata), as EventStoreDB's `MaxAppendSize`. */
  readonly maxAppendSize?: number;
  /** EventStoreDB's `--run-projections`; with `System` or `All` the standard projections run. Default `None`, as on the server. */
  readonly runProjections?: RunProjections;
  /** EventStoreDB's `--start-standard-projections`; `false` keeps them stopped even when projections run. */
  readonly startStandardProjections?: boolean;
}

export type RunProjections = "None" | "System" | "All";

/**
 * Whether the standard projections (`$streams`, `$stream_by_category`, `$by_category`, `$by_event_type`,
 * `$by_correlation_id`) run. There are no projection management calls here to start them later, so
 * running projections starts them unless told not to, and asking to start them is enough to run them.
 */
export const runsStandardProjections = (
  options: Pick<EmbeddedEventStoreOptions, "runProjections" | "startStandardProjections">,
): boolean => {
  if (options.runProjections === "None") return false;
  if (options.runProjections === undefined) return options.startStandardProjections === true;
  return options.startStandardProjections ?? true;
};

export interface EmbeddedEventStore {
  readonly port: number;
  readonly connectionString: string;
  /** The thread the server runs on: 0 in process, the worker's id when started by `startEmbeddedEventStoreInWorker`. */
  readonly threadId: number;
  stop(): Promise<void>;
}

/** EventStoreDB's default `MaxAppendSize`: 1 MiB. */
export const DEFAULT_MAX_APPEND_SIZE = 1_048_576;

/**
 * Starts an in-process EventStoreDB-compatible gRPC server (single node, insecure) that
 * `@eventstore/db-client` connects to with `esdb://<host>:<port>?tls=false`.
 */
export const startEmbeddedEventStore = async (options: EmbeddedEventStoreOptions = {}): Promise<EmbeddedEventStore> => {
  if (!options.inMemory && options.dataDir === undefined) {
    throw new Error("startEmbeddedEventStore needs a dataDir, or inMemory: true");
  }
  const host = options.host ?? "127.0.0.1";
  const log = new EventLog({
    ...(options.inMemory ? {} : { dataDir: options.dataDir }),
    standardProjections: runsStandardProjections(options),
    onProgress: (message) => console.log(message),
  });
  writeSystemStreams(log);
  const limits = { maxAppendSize: options.maxAppendSize ?? DEFAULT_MAX_APPEND_SIZE };
  const subscriptions = new PersistentSubscriptions(log);
  const commits = new GroupCommit(log);

  const server = new Server({
    // Room above the append limit, so that an oversized append gets EventStoreDB's own error.
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    // The client pings every 10 s by default; a stricter server would close its channels.
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 1000,
  });
  server.addService(streamsGrpc.StreamsService, {
    read: readHandler(log),
    append: appendHandler(commits, limits),
    delete: deleteHandler(log),
    tombstone: tombstoneHandler(log),
    batchAppend: batchAppendHandler(commits, limits),
  });
  server.addService(persistentGrpc.PersistentSubscriptionsService, persistentSubscriptionsService(subscriptions));
  server.addService(serverFeaturesGrpc.ServerFeaturesService, { getSupportedMethods: getSupportedMethodsHandler });

  // Connections are accepted here rather than by grpc-js so that Nagle's algorithm can be switched
  // off (with it, streamed reads stall on delayed acknowledgements and run several times slower), and
  // so that, as on EventStoreDB, the HTTP API answers on the same port: the first bytes decide.
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const http = createHttpApi({ log, commits, subscriptions, maxAppendSize: limits.maxAppendSize });
  const listener = createServer({ noDelay: true }, (socket) =>
    routeByProtocol(socket, (protocol, routed) => {
      if (protocol === "http2") injector.injectConnection(routed);
      else http.server.emit("connection", routed);
    }),
  );
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen(options.port ?? 2113, host, () => {
        listener.off("error", reject);
        const address = listener.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
  } catch (error) {
    subscriptions.stop();
    log.close();
    throw error;
  }
  subscriptions.start();

  let stopped: Promise<void> | undefined;
  return {
    port,
    connectionString: `esdb://${host}:${port}?tls=false`,
    threadId,
    stop: () => {
      stopped ??= (async () => {
        subscriptions.stop();
        listener.close();
        http.close();
        await new Promise<void>((resolve) => {
          // Open subscriptions never end on their own: give calls a moment, then cut them.
          const force = setTimeout(() => {
            injector.destroy();
            server.forceShutdown();
            resolve();
          }, 500);
          server.tryShutdown(() => {
            clearTimeout(force);
            resolve();
          });
        });
        injector.destroy();
        commits.flush();
        subscriptions.flush();
        log.close();
      })();
      return stopped;
    },
  };
};

export { startEmbeddedEventStoreInWorker, type WorkerEventStoreOptions } from "./worker/host.js";
