/**
 * The event-store circuit turns every sign of an unreachable store into a 503
 * (`ServiceUnavailableError`), including the raw grpc-js errors the client's BatchAppend path
 * passes through unconverted, and leaves normal answers and bugs alone.
 */
import { EventStoreDBClient, jsonEvent } from "@eventstore/db-client";
import { describe, expect, it } from "vitest";
import { ServiceUnavailableError } from "../../src/application/errors.js";
import { startEmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { EventStoreCircuit } from "../../src/infrastructure/eventstore/event-store-circuit.js";

const grpcError = (code: number, message: string): Error => Object.assign(new Error(`${code} ${message}`), { code });

describe("EventStoreCircuit", () => {
  it.each([
    [1, "CANCELLED: Call cancelled"],
    [4, "DEADLINE_EXCEEDED: Deadline exceeded"],
    [14, "UNAVAILABLE: No connection established"],
  ])("answers a raw gRPC status %i as the store being unavailable", async (code, message) => {
    const circuit = new EventStoreCircuit();
    await expect(circuit.run(() => Promise.reject(grpcError(code, message)))).rejects.toBeInstanceOf(ServiceUnavailableError);
    circuit.shutdown();
  });

  it("passes other failures through unchanged", async () => {
    const circuit = new EventStoreCircuit();
    const bug = new TypeError("a bug");
    await expect(circuit.run(() => Promise.reject(bug))).rejects.toBe(bug);
    const invalid = grpcError(3, "INVALID_ARGUMENT");
    await expect(circuit.run(() => Promise.reject(invalid))).rejects.toBe(invalid);
    circuit.shutdown();
  });

  it("appends to a store that went away fail with 503s, through the client's real errors", async () => {
    const store = await startEmbeddedEventStore({ port: 0, inMemory: true });
    const client = EventStoreDBClient.connectionString(store.connectionString);
    const circuit = new EventStoreCircuit();
    try {
      await client.appendToStream("circuit-test", jsonEvent({ type: "Noted", data: {} }));
      await store.stop();
      for (let i = 0; i < 3; i += 1) {
        const failure = await circuit
          .run(() => client.appendToStream("circuit-test", jsonEvent({ type: "Noted", data: {} }), { deadline: 2000 }))
          .then(
            () => "appended",
            (error: unknown) => error,
          );
        expect(failure).toBeInstanceOf(ServiceUnavailableError);
      }
    } finally {
      circuit.shutdown();
      await client.dispose();
    }
  });
});
