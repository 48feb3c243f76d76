/**
 * Concurrent and batched consumers (`ordering` and `batch` of a Consumer) in the persistent
 * subscription runtime, against the real embedded EventStoreDB: events of different keys are
 * handled side by side, one key's strictly in delivery order; a failing key holds up no other
 * beyond its retry policy; stop() lets every event in hand finish and be acked; a batch is acked
 * as a whole, and a failing batch is handled again event by event (the poison one parked alone).
 * Handlers wait on promises the test settles; no assertion depends on timing.
 */
import { randomUUID } from "node:crypto";
import { type EventStoreDBClient, jsonEvent } from "@eventstore/db-client";
import { describe, expect, it } from "vitest";
import { type ConsumedEvent, type Consumer, TransientError } from "../../src/infrastructure/eventstore/consumer-group.js";
import { type Deferred, type Store, deferred, readStream, settledYet, uniqueName, useConsumerGroups, waitFor } from "./support.js";

const append = async (client: EventStoreDBClient, stream: string, type = "Thing"): Promise<string> => {
  const id = randomUUID();
  await client.appendToStream(stream, jsonEvent({ id, type, data: { n: randomUUID() } }));
  return id;
};

const parkedIds = async (client: EventStoreDBClient, group: string): Promise<string[]> =>
  (await readStream(client, `$persistentsubscription-$all::${group}-parked`, true)).map((event) => event.id);

/** Keyed by stream; each event's handler waits for its own gate, which the test opens. */
/** A consumer in `group` of the streams under `prefix`, ordered by stream, `concurrency` keys in hand at once. */
const byStream = (group: string, prefix: string, concurrency: number, handlers: Pick<Consumer, "handle" | "batch">): Consumer => ({
  group,
  streamPrefixes: [prefix],
  ordering: { keyOf: (event) => event.streamId, concurrency },
  ...handlers,
});

const gated = (group: string, prefix: string, concurrency: number) => {
  const gates = new Map<string, Deferred>();
  const gate = (id: string): Deferred => {
    let found = gates.get(id);
    if (!found) {
      found = deferred();
      gates.set(id, found);
    }
    return found;
  };
  const log: string[] = [];
  const consumer = byStream(group, prefix, concurrency, {
    handle: async (event) => {
      log.push(`start ${event.eventId}`);
      await gate(event.eventId).promise;
      log.push(`end ${event.eventId}`);
    },
  });
  return { consumer, log, open: (id: string) => gate(id).resolve() };
};

describe("concurrent consumers on the embedded EventStoreDB", () => {
  let store: Store;
  const startGroup = useConsumerGroups((started) => (store = started));

  const nothingInFlight = (group: string) =>
    waitFor("nothing in flight", async () => {
      const info = await store.client.getPersistentSubscriptionToAllInfo(group);
      return info.stats.totalInFlightMessages === 0;
    });

  it("handles different keys side by side and one key strictly in delivery order", async () => {
    const prefix = `${uniqueName("ccc")}-`;
    const { consumer, log, open } = gated(uniqueName("group-"), prefix, 4);
    startGroup(consumer);
    const a1 = await append(store.client, `${prefix}a`);
    const b1 = await append(store.client, `${prefix}b`);
    const a2 = await append(store.client, `${prefix}a`);
    const a3 = await append(store.client, `${prefix}a`);

    // a1 and b1 are in hand together: concurrency across keys.
    await waitFor("a1 and b1 to start", () => log.includes(`start ${a1}`) && log.includes(`start ${b1}`));
    open(b1);
    await waitFor("b1 to end", () => log.includes(`end ${b1}`));
    // b is done and units are free, yet a2 waits for a1.
    expect(log).not.toContain(`start ${a2}`);
    open(a1);
    await waitFor("a2 to start", () => log.includes(`start ${a2}`));
    expect(log).not.toContain(`start ${a3}`);
    open(a2);
    open(a3);
    await waitFor("a3 to end", () => log.includes(`end ${a3}`));

    const ofA = log.filter((line) => [a1, a2, a3].some((id) => line.endsWith(id)));
    expect(ofA).toEqual([`start ${a1}`, `end ${a1}`, `start ${a2}`, `end ${a2}`, `start ${a3}`, `end ${a3}`]);
    await nothingInFlight(consumer.group);
  });

  it("a key whose handler keeps failing holds up no other key; its redelivery is handled once it succeeds", async () => {
    const prefix = `${uniqueName("ccf")}-`;
    const calls = new Map<string, number>();
    const done: string[] = [];
    let failing = "";
    const consumer = byStream(uniqueName("group-"), prefix, 4, {
      handle: async (event) => {
        calls.set(event.eventId, (calls.get(event.eventId) ?? 0) + 1);
        if (event.eventId === failing && event.retryCount < 2) throw new TransientError("dependency down for this key");
        done.push(event.eventId);
      },
    });
    startGroup(consumer, { inProcessRetryMs: 0 });
    failing = await append(store.client, `${prefix}a`);
    const others: string[] = [];
    for (let i = 0; i < 6; i += 1) others.push(await append(store.client, `${prefix}${i % 3}`));
    await waitFor("the other keys' events", () => others.every((id) => done.includes(id)));
    await waitFor("the failing event after its redeliveries", () => done.includes(failing));
    expect(calls.get(failing)).toBe(3);
    // Handled (acked) exactly once each: at-least-once delivery, idempotent outcome.
    expect(done.filter((id) => id === failing)).toHaveLength(1);
    for (const id of others) expect(done.filter((seen) => seen === id)).toHaveLength(1);
    expect(await parkedIds(store.client, consumer.group)).toEqual([]);
    await nothingInFlight(consumer.group);
  });

  it("parks a poison event of one key at once; that key and the others go on", async () => {
    const prefix = `${uniqueName("ccp")}-`;
    const done: string[] = [];
    let poison = "";
    const consumer = byStream(uniqueName("group-"), prefix, 4, {
      handle: async (event) => {
        if (event.eventId === poison) throw new Error("malformed");
        done.push(event.eventId);
      },
    });
    startGroup(consumer);
    poison = await append(store.client, `${prefix}a`);
    const next = await append(store.client, `${prefix}a`);
    const other = await append(store.client, `${prefix}b`);
    await waitFor("the events after the poison one", () => done.includes(next) && done.includes(other));
    await waitFor("the poison event to be parked", async () => (await parkedIds(store.client, consumer.group)).includes(poison));
    expect(done).not.toContain(poison);
  });

  it("stop() lets every event in hand finish and acks them; queued ones go to the next member", async () => {
    const prefix = `${uniqueName("ccs")}-`;
    const group = uniqueName("group-");
    const { consumer, log, open } = gated(group, prefix, 4);
    const member = startGroup(consumer);
    const a1 = await append(store.client, `${prefix}a`);
    const b1 = await append(store.client, `${prefix}b`);
    const a2 = await append(store.client, `${prefix}a`); // queued behind a1
    await waitFor("a1 and b1 in hand", () => log.includes(`start ${a1}`) && log.includes(`start ${b1}`));

    const stopping = member.stop();
    expect(await settledYet(stopping)).toBe("pending");
    open(a1);
    expect(await settledYet(stopping)).toBe("pending"); // b1 is still in hand
    open(b1);
    await stopping;
    expect(member.state).toBe("stopped");
    expect(log).toEqual(expect.arrayContaining([`end ${a1}`, `end ${b1}`]));
    expect(log).not.toContain(`start ${a2}`); // not started after stop()

    const next = gated(group, prefix, 4);
    next.open(a2);
    startGroup(next.consumer);
    await waitFor("a2 at the next member", () => next.log.includes(`end ${a2}`));
    // a1 and b1 were acked before the first member left: not delivered again.
    expect(next.log.some((line) => line.endsWith(a1) || line.endsWith(b1))).toBe(false);
  });

  it("hands events ready together to the batch handler and acks them together", async () => {
    const prefix = `${uniqueName("ccb")}-`;
    const first = deferred();
    let blocker = "";
    const batches: string[][] = [];
    const singles: string[] = [];
    const consumer = byStream(uniqueName("group-"), prefix, 1, {
      handle: async (event) => {
        singles.push(event.eventId);
        if (event.eventId === blocker) await first.promise;
      },
      batch: {
        maxSize: 50,
        handle: async (events: readonly ConsumedEvent[]) => {
          batches.push(events.map((event) => event.eventId));
        },
      },
    });
    startGroup(consumer);
    blocker = await append(store.client, `${prefix}x`);
    await waitFor("the first event in hand alone", () => singles.includes(blocker));
    const waiting: string[] = [];
    for (let i = 0; i < 6; i += 1) waiting.push(await append(store.client, `${prefix}${i % 2}`));
    // Give the server time to deliver all six while the only unit is busy.
    await waitFor("all six delivered", async () => {
      const info = await store.client.getPersistentSubscriptionToAllInfo(consumer.group);
      return info.stats.totalInFlightMessages === 7;
    });
    first.resolve();
    await waitFor("the six handled", () => waiting.every((id) => batches.flat().includes(id)));
    expect(batches).toHaveLength(1);
    const batch = batches[0] ?? [];
    expect(new Set(batch)).toEqual(new Set(waiting));
    // Per key (stream), in delivery order.
    for (const key of [0, 1]) {
      const ofKey = waiting.filter((_, i) => i % 2 === key);
      expect(batch.filter((id) => ofKey.includes(id))).toEqual(ofKey);
    }
    await nothingInFlight(consumer.group);
  });

  it("handles a failing batch again event by event: the poison event is parked alone, the rest acked", async () => {
    const prefix = `${uniqueName("ccx")}-`;
    const first = deferred();
    let blocker = "";
    let poison = "";
    const done: string[] = [];
    let batchCalls = 0;
    const consumer = byStream(uniqueName("group-"), prefix, 1, {
      handle: async (event) => {
        if (event.eventId === blocker) await first.promise;
        if (event.eventId === poison) throw new Error("malformed");
        done.push(event.eventId);
      },
      batch: {
        maxSize: 50,
        handle: async (events) => {
          batchCalls += 1;
          if (events.some((event) => event.eventId === poison)) throw new Error("one of them is malformed");
          for (const event of events) done.push(event.eventId);
        },
      },
    });
    startGroup(consumer);
    blocker = await append(store.client, `${prefix}x`);
    await waitFor(
      "the blocker in hand",
      async () => (await store.client.getPersistentSubscriptionToAllInfo(consumer.group)).stats.totalInFlightMessages === 1,
    );
    const before = await append(store.client, `${prefix}a`);
    poison = await append(store.client, `${prefix}a`);
    const after = await append(store.client, `${prefix}a`);
    const other = await append(store.client, `${prefix}b`);
    await waitFor(
      "all delivered",
      async () => (await store.client.getPersistentSubscriptionToAllInfo(consumer.group)).stats.totalInFlightMessages === 5,
    );
    first.resolve();
    await waitFor("the poison event parked", async () => (await parkedIds(store.client, consumer.group)).includes(poison));
    await waitFor("the others handled", () => [before, after, other].every((id) => done.includes(id)));
    expect(batchCalls).toBe(1);
    expect(done).not.toContain(poison);
    // Key a stayed in order around the poison event.
    expect(done.filter((id) => [before, after].includes(id))).toEqual([before, after]);
    await nothingInFlight(consumer.group);
  });
});
