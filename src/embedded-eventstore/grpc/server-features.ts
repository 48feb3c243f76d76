import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { serverFeaturesPb } from "./proto.js";

/** The server version this embedded server answers as. */
export const SERVER_VERSION = "24.10.0";

interface Method {
  readonly service: string;
  readonly method: string;
  readonly features?: readonly string[];
}

const STREAMS = "event_store.client.streams.streams";
const PERSISTENT = "event_store.client.persistent_subscriptions.persistentsubscriptions";
const both = ["stream", "all"] as const;

/**
 * Exactly what an EventStoreDB 24.10 node with projections off advertises. The client reads it to
 * choose BatchAppend over Append, to allow persistent subscriptions to `$all`, and to use gRPC (not
 * HTTP) for persistent-subscription info. Operations, users, gossip, monitoring and redaction are
 * advertised as a real node does but not implemented here: calls to them answer UNIMPLEMENTED.
 */
const METHODS: readonly Method[] = [
  { service: STREAMS, method: "read", features: ["position", "events"] },
  { service: STREAMS, method: "append" },
  { service: STREAMS, method: "delete" },
  { service: STREAMS, method: "tombstone" },
  { service: STREAMS, method: "batchappend", features: ["deadline_duration"] },
  ...["create", "update", "delete", "read", "getinfo", "replayparked", "list", "restartsubsystem"].map((method) => ({
    service: PERSISTENT,
    method,
    features: both,
  })),
  ...["startscavenge", "stopscavenge", "shutdown", "mergeindexes", "resignnode", "setnodepriority", "restartpersistentsubscriptions"].map(
    (method) => ({ service: "event_store.client.operations.operations", method }),
  ),
  ...["create", "update", "delete", "disable", "enable", "details", "changepassword", "resetpassword"].map((method) => ({
    service: "event_store.client.users.users",
    method,
  })),
  { service: "event_store.client.gossip.gossip", method: "read" },
  { service: "event_store.client.monitoring.monitoring", method: "stats" },
  { service: "event_store.client.redaction.redaction", method: "geteventpositions" },
  { service: "event_store.client.redaction.redaction", method: "switchchunks" },
  { service: "event_store.client.server_features.serverfeatures", method: "getsupportedmethods" },
];

export const supportedMethods = (): InstanceType<typeof serverFeaturesPb.SupportedMethods> => {
  const answer = new serverFeaturesPb.SupportedMethods();
  answer.setEventStoreServerVersion(SERVER_VERSION);
  answer.setMethodsList(
    METHODS.map(({ service, method, features }) => {
      const entry = new serverFeaturesPb.SupportedMethod();
      entry.setServiceName(service);
      entry.setMethodName(method);
      entry.setFeaturesList([...(features ?? [])]);
      return entry;
    }),
  );
  return answer;
};

export const getSupportedMethodsHandler = (
  _call: ServerUnaryCall<unknown, unknown>,
  callback: sendUnaryData<InstanceType<typeof serverFeaturesPb.SupportedMethods>>,
): void => callback(null, supportedMethods());
