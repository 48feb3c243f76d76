import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { reportStorageFault } from "../storage-faults.js";
import { storageError } from "./errors.js";

/**
 * A unary handler whose storage throws answers that call with a gRPC error and logs it; grpc-js
 * would answer a bare UNKNOWN and log nothing, leaving an operator with no trace of a failing disk.
 */
export const guardUnary =
  <Req, Resp>(operation: string, handler: (call: ServerUnaryCall<Req, Resp>, callback: sendUnaryData<Resp>) => void) =>
  (call: ServerUnaryCall<Req, Resp>, callback: sendUnaryData<Resp>): void => {
    try {
      handler(call, callback);
    } catch (error) {
      reportStorageFault(operation, error);
      callback(storageError(error));
    }
  };

/** Runs a step of a streaming call; a storage error ends that call with a gRPC error, not the server. */
export const guardStep = (operation: string, fail: (error: Error) => void, step: () => void): void => {
  try {
    step();
  } catch (error) {
    reportStorageFault(operation, error);
    fail(storageError(error));
  }
};
