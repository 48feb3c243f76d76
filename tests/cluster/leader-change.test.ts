/**
 * A consumer group across a leader change. The node a worker was subscribed to goes away; where it
 * was, a follower now answers (NotLeader, naming the new leader), and the new leader has the same
 * log (here: the embedded server restarted on another port over the same data directory, as a
 * promoted replica would have it). The worker must find the leader through the follower's answer
 * and go on handling events, with nothing lost, without being restarted.
 */
import { randomUUID } from "node:crypto";
import { EventStoreDBClient, jsonEvent } from "@eventstore/db-client";
import { describe, expect, it } from "vitest";
import { productAggregate } from "../../src/application/aggregates.js";
import { startEmbeddedEventStore, type EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { AggregateRepository } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import { type ConsumedEvent, type Consumer, ConsumerGroup } from "../../src/infrastructure/eventstore/consumer-group.js";
import { metadata, registerCommand } from "../repository/support.js";
import { sleep, tempDir, testLogger, uniqueName, waitFor } from "../worker/support.js";
import { type FakeFollower, startFakeFollower } from "./fake-follower.js";

const appendThrough = async (client: EventStoreDBClient, stream: string): Promise<string> => {
  const id = randomUUID();
  await client.appendToStream(stream, jsonEvent({ id, type: "Thing", data: { n: id } }));
  return id;
};

describe("a consumer group across a leader change", () => {
  it("follows the follower's NotLeader answer to the new leader and goes on handling events", async () => {
    const dir = tempDir("leader-change-");
    const oldLeader = await startEmbeddedEventStore({ port: 0, dataDir: dir.path });
    const oldPort = oldLeader.port;
    // The application's one client, as configured for a cluster: it requires the leader.
    const client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${oldPort}?tls=false&nodePreference=leader`);
    const prefix = `${uniqueName("lc")}-`;
    const done: string[] = [];
    const consumer: Consumer = {
      group: uniqueName("group-"),
      streamPrefixes: [prefix],
      handle: async (event: ConsumedEvent) => {
        done.push(event.eventId);
      },
    };
    const member = new ConsumerGroup(client, consumer, testLogger());
    let newLeader: EmbeddedEventStore | undefined;
    let follower: FakeFollower | undefined;
    try {
      member.start();
      const before: string[] = [];
      for (let i = 0; i < 3; i += 1) before.push(await appendThrough(client, `${prefix}${i}`));
      await waitFor("the events before the leader change", () => before.every((id) => done.includes(id)));

      await oldLeader.stop();
      await waitFor("the member to notice", () => member.state === "reconnecting");
      newLeader = await startEmbeddedEventStore({ port: 0, dataDir: dir.path });
      const leader = { host: "127.0.0.1", port: newLeader.port };
      follower = await waitFor(
        "the old leader's port to be free",
        async () => {
          try {
            return await startFakeFollower(leader, oldPort);
          } catch (error) {
            if (String(error).includes("EADDRINUSE")) return undefined;
            throw error;
          }
        },
        { timeoutMs: 10_000, intervalMs: 100 },
      );

      await waitFor("the member to be running again", () => member.state === "running", { timeoutMs: 30_000 });
      // It got there through the follower: a persistent-subscription call was refused with NotLeader.
      const refusedSubscriptionCalls = ["create", "read"].reduce((sum, method) => sum + (follower?.refused.get(method) ?? 0), 0);
      expect(refusedSubscriptionCalls).toBeGreaterThanOrEqual(1);

      // Commands keep working through the same client too: the repository lands its append on the leader.
      const productId = randomUUID();
      const registered = await new AggregateRepository(client, productAggregate).handle(
        productId,
        registerCommand(productId, 3),
        metadata(),
      );
      expect(registered.revision).toBe(0);

      const after: string[] = [];
      for (let i = 0; i < 3; i += 1) after.push(await appendThrough(client, `${prefix}after-${i}`));
      await waitFor("the events after the leader change", () => after.every((id) => done.includes(id)), { timeoutMs: 20_000 });
      // At least once: nothing handled before or after the change is missing.
      for (const id of [...before, ...after]) expect(done).toContain(id);
      expect(member.state).toBe("running");
    } finally {
      await Promise.race([member.stop(), sleep(5000)]);
      await Promise.race([client.dispose().catch(() => undefined), sleep(2000)]);
      await follower?.stop();
      await newLeader?.stop();
      dir.remove();
    }
  }, 60_000);
});
