/**
 * A stand-in for an EventStoreDB cluster follower: a gRPC server that advertises what a 24.10 node
 * does, then answers every stream and persistent-subscription call the way a follower answers a
 * client that requires the leader (`nodePreference=leader`): NOT_FOUND "Leader info available" with
 * the `not-leader` exception and the leader's endpoint in the trailers. Nothing is written or read.
 *
 * No cluster can run on these machines; this is the part of a leader change the application sees,
 * exercised through the real `@eventstore/db-client`.
 */
import { createServer } from "node:net";
import { Metadata, Server, ServerCredentials, status, type ServiceError, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { persistentGrpc, serverFeaturesGrpc, streamsGrpc } from "../../src/embedded-eventstore/grpc/proto.js";
import { getSupportedMethodsHandler } from "../../src/embedded-eventstore/grpc/server-features.js";

export interface FakeFollower {
  readonly port: number;
  readonly connectionString: string;
  /** Calls answered NotLeader so far, by method name (`append`, `batchAppend`, `read`, `create`…). */
  readonly refused: Map<string, number>;
  stop(): Promise<void>;
}

export interface Leader {
  readonly host: string;
  readonly port: number;
}

const notLeader = (leader: Leader): ServiceError => {
  const metadata = new Metadata();
  metadata.set("exception", "not-leader");
  metadata.set("leader-endpoint-host", leader.host);
  metadata.set("leader-endpoint-port", String(leader.port));
  return Object.assign(new Error("Leader info available"), { code: status.NOT_FOUND, details: "Leader info available", metadata });
};

/** Unary, client-streaming, server-streaming and duplex calls alike: each is refused at once. */
const refuseAll = (
  methods: Readonly<Record<string, { readonly requestStream: boolean; readonly responseStream: boolean }>>,
  leader: () => Leader,
  refused: Map<string, number>,
): UntypedServiceImplementation => {
  const implementation: UntypedServiceImplementation = {};
  for (const [name, definition] of Object.entries(methods)) {
    const count = (): void => {
      refused.set(name, (refused.get(name) ?? 0) + 1);
    };
    implementation[name] = definition.responseStream
      ? (call: { emit(event: "error", error: ServiceError): boolean }) => {
          count();
          call.emit("error", notLeader(leader()));
        }
      : (_call: unknown, callback: (error: ServiceError) => void) => {
          count();
          callback(notLeader(leader()));
        };
  }
  return implementation;
};

/** Listens on `port` (0: any free port); every call is refused with `leader` as the leader. */
export const startFakeFollower = async (leader: Leader, port = 0): Promise<FakeFollower> => {
  const refused = new Map<string, number>();
  const server = new Server();
  server.addService(
    streamsGrpc.StreamsService,
    refuseAll(streamsGrpc.StreamsService, () => leader, refused),
  );
  server.addService(
    persistentGrpc.PersistentSubscriptionsService,
    refuseAll(persistentGrpc.PersistentSubscriptionsService, () => leader, refused),
  );
  server.addService(serverFeaturesGrpc.ServerFeaturesService, { getSupportedMethods: getSupportedMethodsHandler });
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const listener = createServer({ noDelay: true }, (socket) => injector.injectConnection(socket));
  const bound = await new Promise<number>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(port, "127.0.0.1", () => {
      listener.off("error", reject);
      const address = listener.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    port: bound,
    connectionString: `esdb://127.0.0.1:${bound}?tls=false&nodePreference=leader`,
    refused,
    stop: async () => {
      listener.close();
      injector.destroy();
      server.forceShutdown();
    },
  };
};
