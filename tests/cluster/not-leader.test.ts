/**
 * A leader change mid-command: a cluster node that is not (or no longer) the leader answers
 * NotLeader. The repository tries the same append or read again (the client has switched to the
 * leader the follower named), so the command succeeds instead of failing with a 500; a leader that
 * never settles is a 503, and the circuit breaker does not count NotLeader as an outage.
 */
import { randomUUID } from "node:crypto";
import { Metadata, status, type ServiceError } from "@grpc/grpc-js";
import { EventStoreDBClient, NotLeaderError } from "@eventstore/db-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { productAggregate } from "../../src/application/aggregates.js";
import { ServiceUnavailableError } from "../../src/application/errors.js";
import { isRegistered } from "../../src/domain/index.js";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { AggregateRepository, type StreamClient } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import { EventStoreCircuit } from "../../src/infrastructure/eventstore/event-store-circuit.js";
import { holdCommand, metadata, recorded, registerCommand } from "../repository/support.js";
import { startFakeFollower } from "./fake-follower.js";

/** What a follower's answer becomes in the client: the same shape its error conversion receives. */
const notLeaderError = (port: number): NotLeaderError => {
  const trailers = new Metadata();
  trailers.set("exception", "not-leader");
  trailers.set("leader-endpoint-host", "127.0.0.1");
  trailers.set("leader-endpoint-port", String(port));
  const serviceError: ServiceError = Object.assign(new Error("5 NOT_FOUND: Leader info available"), {
    code: status.NOT_FOUND,
    details: "Leader info available",
    metadata: trailers,
  });
  return new NotLeaderError(serviceError);
};

interface Failing {
  readonly client: StreamClient;
  readonly calls: { appends: number; reads: number };
  /** Whether each call asked for the leader (`requires-leader`), in call order. */
  readonly requiresLeader: { appends: (boolean | undefined)[]; reads: (boolean | undefined)[] };
}

/** The real client, except that the first `appendFailures` appends and `readFailures` reads answer NotLeader. */
const leaderChanging = (client: EventStoreDBClient, appendFailures: number, readFailures = 0): Failing => {
  const calls = { appends: 0, reads: 0 };
  const requiresLeader = { appends: [] as (boolean | undefined)[], reads: [] as (boolean | undefined)[] };
  return {
    calls,
    requiresLeader,
    client: {
      appendToStream: async (...args: Parameters<StreamClient["appendToStream"]>) => {
        calls.appends += 1;
        requiresLeader.appends.push(args[2]?.requiresLeader);
        if (calls.appends <= appendFailures) throw notLeaderError(2113);
        return client.appendToStream(...args);
      },
      readStream: ((...args: Parameters<StreamClient["readStream"]>) => {
        calls.reads += 1;
        requiresLeader.reads.push(args[1]?.requiresLeader);
        if (calls.reads <= readFailures) {
          // A read's failure surfaces while it is iterated, as the client's streamed reads do.
          return (async function* () {
            yield* [];
            throw notLeaderError(2113);
          })();
        }
        return client.readStream(...args);
      }) as StreamClient["readStream"],
    },
  };
};

describe("NotLeader during a command", () => {
  let server: EmbeddedEventStore;
  let client: EventStoreDBClient;

  beforeAll(async () => {
    server = await startEmbeddedEventStore({ port: 0, inMemory: true });
    client = EventStoreDBClient.connectionString(server.connectionString);
  }, 60_000);

  afterAll(async () => {
    await client.dispose();
    await server.stop();
  }, 60_000);

  it("retries an append answered NotLeader once: the command succeeds and its events are written once", async () => {
    const failing = leaderChanging(client, 1);
    const repository = new AggregateRepository(failing.client, productAggregate);
    const productId = randomUUID();

    const registered = await repository.handle(productId, registerCommand(productId, 10), metadata());

    expect(registered.events.map((event) => event.type)).toEqual(["ProductRegistered"]);
    expect(failing.calls.appends).toBe(2);
    // Only the leader may take it: a follower must answer NotLeader rather than forward or serve stale state.
    expect(failing.requiresLeader.appends).toEqual([true, true]);
    expect((await recorded(client, `product-${productId}`)).map((event) => event.type)).toEqual(["ProductRegistered"]);
  });

  it("retries a read answered NotLeader: the state it decides on is the leader's", async () => {
    const productId = randomUUID();
    await new AggregateRepository(client, productAggregate).handle(productId, registerCommand(productId, 5), metadata());

    const failing = leaderChanging(client, 0, 1);
    const repository = new AggregateRepository(failing.client, productAggregate);
    const loaded = await repository.load(productId);

    expect(failing.calls.reads).toBe(2);
    expect(failing.requiresLeader.reads).toEqual([true, true]);
    expect(loaded.revision).toBe(0);
    expect(isRegistered(loaded.state) && loaded.state.capacity).toBe(5);
  });

  it("answers 503 (not a 500) when the leader keeps moving past the bounded retries, and writes nothing", async () => {
    const failing = leaderChanging(client, Number.POSITIVE_INFINITY);
    const repository = new AggregateRepository(failing.client, productAggregate, { maxLeaderAttempts: 3 });
    const productId = randomUUID();

    const outcome = await repository.handle(productId, registerCommand(productId, 10), metadata()).then(
      () => "succeeded",
      (error: unknown) => error,
    );

    expect(outcome).toBeInstanceOf(ServiceUnavailableError);
    expect(failing.calls.appends).toBe(3);
    expect(await recorded(client, `product-${productId}`)).toEqual([]);
  });

  it("keeps the circuit closed through NotLeader answers, and passes them through unchanged", async () => {
    const circuit = new EventStoreCircuit({ volumeThreshold: 1 });
    try {
      for (let i = 0; i < 5; i += 1) {
        await expect(circuit.run(() => Promise.reject(notLeaderError(2113)))).rejects.toBeInstanceOf(NotLeaderError);
      }
      expect(circuit.state).toBe("closed");
    } finally {
      circuit.shutdown();
    }
  });

  it("through the real client: a follower's NotLeader sends the retry to the leader it names", async () => {
    const follower = await startFakeFollower({ host: "127.0.0.1", port: server.port });
    const throughFollower = EventStoreDBClient.connectionString(follower.connectionString);
    try {
      const repository = new AggregateRepository(throughFollower, productAggregate);
      const productId = randomUUID();

      // A new stream: the append is the first call, so it is the one the follower refuses.
      await repository.handle(productId, registerCommand(productId, 10), metadata(), { expectNew: true });
      const held = await repository.handle(productId, holdCommand(randomUUID(), 2), metadata());

      // The first append reached the follower and was refused there; everything after went to the leader.
      const refusedAppends = (follower.refused.get("append") ?? 0) + (follower.refused.get("batchAppend") ?? 0);
      expect(refusedAppends).toBe(1);
      expect(held.revision).toBe(1);
      expect((await recorded(client, `product-${productId}`)).map((event) => event.type)).toEqual(["ProductRegistered", "UnitsHeld"]);
    } finally {
      await throughFollower.dispose();
      await follower.stop();
    }
  });
});
