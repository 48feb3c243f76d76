import { createRequire } from "node:module";

// The client ships its protobuf bindings as CommonJS modules whose exports Node's ESM loader
// cannot detect statically, so they are loaded with require and typed from their .d.ts files.
const require = createRequire(import.meta.url);
const load = <T>(name: string): T => require(`@eventstore/db-client/generated/${name}`) as T;

export const streamsPb = load<typeof import("@eventstore/db-client/generated/streams_pb.js")>("streams_pb.js");
export const streamsGrpc = load<typeof import("@eventstore/db-client/generated/streams_grpc_pb.js")>("streams_grpc_pb.js");
export const persistentPb = load<typeof import("@eventstore/db-client/generated/persistent_pb.js")>("persistent_pb.js");
export const persistentGrpc = load<typeof import("@eventstore/db-client/generated/persistent_grpc_pb.js")>("persistent_grpc_pb.js");
export const sharedPb = load<typeof import("@eventstore/db-client/generated/shared_pb.js")>("shared_pb.js");
export const statusPb = load<typeof import("@eventstore/db-client/generated/status_pb.js")>("status_pb.js");
export const codePb = load<typeof import("@eventstore/db-client/generated/code_pb.js")>("code_pb.js");
export const serverFeaturesPb = load<typeof import("@eventstore/db-client/generated/serverfeatures_pb.js")>("serverfeatures_pb.js");
export const serverFeaturesGrpc =
  load<typeof import("@eventstore/db-client/generated/serverfeatures_grpc_pb.js")>("serverfeatures_grpc_pb.js");
export const gossipGrpc = load<typeof import("@eventstore/db-client/generated/gossip_grpc_pb.js")>("gossip_grpc_pb.js");
export const gossipPb = load<typeof import("@eventstore/db-client/generated/gossip_pb.js")>("gossip_pb.js");
export const anyPb = require("google-protobuf/google/protobuf/any_pb.js") as typeof import("google-protobuf/google/protobuf/any_pb.js");
export const emptyPb =
  require("google-protobuf/google/protobuf/empty_pb.js") as typeof import("google-protobuf/google/protobuf/empty_pb.js");

export type ReadReq = import("@eventstore/db-client/generated/streams_pb.js").ReadReq;
export type ReadResp = import("@eventstore/db-client/generated/streams_pb.js").ReadResp;
export type AppendReq = import("@eventstore/db-client/generated/streams_pb.js").AppendReq;
export type AppendResp = import("@eventstore/db-client/generated/streams_pb.js").AppendResp;
export type BatchAppendReq = import("@eventstore/db-client/generated/streams_pb.js").BatchAppendReq;
export type BatchAppendResp = import("@eventstore/db-client/generated/streams_pb.js").BatchAppendResp;
export type DeleteReq = import("@eventstore/db-client/generated/streams_pb.js").DeleteReq;
export type DeleteResp = import("@eventstore/db-client/generated/streams_pb.js").DeleteResp;
export type TombstoneReq = import("@eventstore/db-client/generated/streams_pb.js").TombstoneReq;
export type TombstoneResp = import("@eventstore/db-client/generated/streams_pb.js").TombstoneResp;
export type UUID = import("@eventstore/db-client/generated/shared_pb.js").UUID;
export type StreamIdentifier = import("@eventstore/db-client/generated/shared_pb.js").StreamIdentifier;
export type PersistentReadReq = import("@eventstore/db-client/generated/persistent_pb.js").ReadReq;
export type PersistentReadResp = import("@eventstore/db-client/generated/persistent_pb.js").ReadResp;
