/**
 * The persistent-subscription runtime (src/infrastructure/eventstore/consumer-group.ts) against the real embedded
 * EventStoreDB: group creation, prefix filtering, system events, acks and checkpoints, transient
 * retries (in process and by redelivery), parking, competing consumers, graceful stop, and
 * reconnection after the server went away and came back on the same port and data directory.
 */
import { randomUUID } from "node:crypto";
import {
  type EventStoreDBClient,
  PersistentSubscriptionDoesNotExistError,
  START,
  jsonEvent,
  persistentSubscriptionToAllSettingsFromDefaults,
  streamNameFilter,
} from "@eventstore/db-client";
import { describe, expect, it } from "vitest";
import { type ConsumedEvent, type Consumer, ConsumerGroup, TransientError } from "../../src/infrastructure/eventstore/consumer-group.js";
import {
  type Store,
  deferred,
  readStream,
  restartStore,
  settledYet,
  sleep,
  startStore,
  tempDir,
  testLogger,
  uniqueName,
  useConsumerGroups,
  waitFor,
} from "./support.js";

interface Recorder extends Consumer {
  readonly seen: ConsumedEvent[];
  /** Event ids whose handler returned successfully, in order. */
  readonly done: string[];
}

const recorder = (
  group: string,
  streamPrefixes: readonly string[],
  behaviour: (event: ConsumedEvent, calls: number) => Promise<void> | void = () => undefined,
): Recorder => {
  const seen: ConsumedEvent[] = [];
  const done: string[] = [];
  const calls = new Map<string, number>();
  return {
    group,
    streamPrefixes,
    seen,
    done,
    handle: async (event) => {
      seen.push(event);
      const count = (calls.get(event.eventId) ?? 0) + 1;
      calls.set(event.eventId, count);
      await behaviour(event, count);
      done.push(event.eventId);
    },
  };
};

const append = async (client: EventStoreDBClient, stream: string, type = "Thing", data: Record<string, unknown> = {}): Promise<string> => {
  const id = randomUUID();
  await client.appendToStream(stream, jsonEvent({ id, type, data: { ...data, n: randomUUID() } }));
  return id;
};

const parkedStream = (group: string) => `$persistentsubscription-$all::${group}-parked`;

/** Event ids the parked stream of a group links to. */
const parkedIds = async (client: EventStoreDBClient, group: string): Promise<string[]> =>
  (await readStream(client, parkedStream(group), true)).map((event) => event.id);

describe("ConsumerGroup on the embedded EventStoreDB", () => {
  let store: Store;
  const startGroup = useConsumerGroups((started) => (store = started));
  const logger = testLogger();

  const connections = async (group: string): Promise<number> => {
    try {
      return (await store.client.getPersistentSubscriptionToAllInfo(group)).connections.length;
    } catch (error) {
      if (error instanceof PersistentSubscriptionDoesNotExistError) return 0;
      throw error;
    }
  };

  it("creates its group when it is missing, and joins it when it exists", async () => {
    const prefix = `${uniqueName("cga")}-`;
    const fresh = recorder(uniqueName("group-"), [prefix]);
    await expect(store.client.getPersistentSubscriptionToAllInfo(fresh.group)).rejects.toBeInstanceOf(
      PersistentSubscriptionDoesNotExistError,
    );
    startGroup(fresh);
    await waitFor("the group to exist with one member", async () => (await connections(fresh.group)) === 1);
    const info = await store.client.getPersistentSubscriptionToAllInfo(fresh.group);
    expect(info.eventSource).toBe("$all");

    // Someone else created the group first (another process, or an operator).
    const existing = recorder(uniqueName("group-"), [prefix]);
    await store.client.createPersistentSubscriptionToAll(
      existing.group,
      persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START }),
      { filter: streamNameFilter({ prefixes: [prefix] }) },
    );
    const member = startGroup(existing);
    await waitFor("the member to join the existing group", async () => (await connections(existing.group)) === 1);
    const id = await append(store.client, `${prefix}1`);
    await waitFor("both groups to handle the event", () => fresh.done.includes(id) && existing.done.includes(id));
    expect(member.state).toBe("running");
  });

  it("hands its consumer only events of its prefixes and never system events (which it acks)", async () => {
    const mine = `${uniqueName("cgm")}-`;
    const other = `${uniqueName("cgo")}-`;
    // The `$$` prefix lets the stream metadata events of our streams through the server's filter,
    // as a careless prefix would: the runtime must still keep them from the handler.
    const consumer = recorder(uniqueName("group-"), [mine, `$$${mine}`]);
    startGroup(consumer);
    await waitFor("the member to join", async () => (await connections(consumer.group)) === 1);

    const expected = [await append(store.client, `${mine}1`), await append(store.client, `${mine}1`)];
    await append(store.client, `${other}1`);
    await store.client.setStreamMetadata(`${mine}1`, { maxCount: 1000 });
    await store.client.appendToStream(`${mine}2`, jsonEvent({ type: "$system-looking", data: {} }));
    expected.push(await append(store.client, `${mine}3`));

    await waitFor("the last event of our prefix", () => consumer.done.includes(expected.at(-1) ?? ""));
    // Everything the server delivered before our last event has been dealt with; look at what it was.
    expect(consumer.seen.map((event) => event.eventId)).toEqual(expected);
    for (const event of consumer.seen) {
      expect(event.streamId.startsWith(mine)).toBe(true);
      expect(event.type.startsWith("$")).toBe(false);
      expect(event.metadata).toBeUndefined(); // not written by the application, so not parsed as ours
      expect(event.position).toBeGreaterThan(0n);
    }
    // The server did deliver the two `$` events (five in all), and the runtime acked them: nothing is
    // left in flight or parked.
    const info = await waitFor("nothing in flight", async () => {
      const current = await store.client.getPersistentSubscriptionToAllInfo(consumer.group);
      return current.stats.totalInFlightMessages === 0 && current.stats.parkedMessageCount === 0n ? current : undefined;
    });
    expect(info.connections[0]?.totalItems).toBe(5n);
  });

  it("acks handled events: the checkpoint advances and a restarted member gets no redelivery", async () => {
    const prefix = `${uniqueName("cgk")}-`;
    const group = uniqueName("group-");
    const first = recorder(group, [prefix]);
    const member = startGroup(first);
    await waitFor("the member to join", async () => (await connections(group)) === 1);
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await append(store.client, `${prefix}${i % 2}`));
    await waitFor("all five handled", () => ids.every((id) => first.done.includes(id)));
    expect(first.seen).toHaveLength(5);

    const lastPosition = (await readStream(store.client, `${prefix}0`)).at(-1)?.position ?? 0n;
    const checkpoint = await waitFor(
      "a checkpoint at or after the last event",
      async () => {
        const position = (await store.client.getPersistentSubscriptionToAllInfo(group)).stats.lastCheckpointedEventPosition;
        return position !== undefined && position.commit >= lastPosition ? position : undefined;
      },
      { timeoutMs: 10_000 },
    );
    expect(checkpoint.commit).toBeGreaterThanOrEqual(lastPosition);

    await member.stop();
    expect(member.state).toBe("stopped");
    const second = recorder(group, [prefix]);
    startGroup(second);
    const marker = await append(store.client, `${prefix}marker`);
    await waitFor("the restarted member to handle a new event", () => second.done.includes(marker));
    expect(second.seen.map((event) => event.eventId)).toEqual([marker]);
  });

  it("retries a TransientError in process until the handler succeeds", async () => {
    const prefix = `${uniqueName("cgt")}-`;
    const consumer = recorder(uniqueName("group-"), [prefix], (_event, calls) => {
      if (calls <= 2) throw new TransientError(`dependency down (call ${calls})`);
    });
    startGroup(consumer);
    const id = await append(store.client, `${prefix}1`);
    await waitFor("the third call to succeed", () => consumer.done.includes(id));
    expect(consumer.seen.filter((event) => event.eventId === id)).toHaveLength(3);
    expect(consumer.seen.map((event) => event.retryCount)).toEqual([0, 0, 0]);
    expect(await parkedIds(store.client, consumer.group)).toEqual([]);
  });

  it("hands a still-failing event back to the group, which delivers it again (retryCount grows)", async () => {
    const prefix = `${uniqueName("cgr")}-`;
    const consumer = recorder(uniqueName("group-"), [prefix], (event) => {
      if (event.retryCount < 2) throw new TransientError("still down");
    });
    startGroup(consumer, { inProcessRetryMs: 0 });
    const id = await append(store.client, `${prefix}1`);
    await waitFor("the redelivery with retryCount 2 to succeed", () => consumer.done.includes(id));
    expect(consumer.seen.map((event) => [event.eventId, event.retryCount])).toEqual([
      [id, 0],
      [id, 1],
      [id, 2],
    ]);
    expect(await parkedIds(store.client, consumer.group)).toEqual([]);
  });

  it("lets the group park an event whose transient failure outlasts maxRetryCount", async () => {
    const prefix = `${uniqueName("cgx")}-`;
    const consumer = recorder(uniqueName("group-"), [prefix], () => {
      throw new TransientError("down for good");
    });
    startGroup(consumer, { inProcessRetryMs: 0, maxRetryCount: 2 });
    const id = await append(store.client, `${prefix}1`);
    await waitFor("the event to be parked", async () => (await parkedIds(store.client, consumer.group)).includes(id));
    expect(consumer.seen.map((event) => event.retryCount)).toEqual([0, 1, 2]);
  });

  it("parks an event whose handler fails permanently, at once, and goes on with the next", async () => {
    const prefix = `${uniqueName("cgp")}-`;
    let poison = "";
    const consumer = recorder(uniqueName("group-"), [prefix], (event) => {
      if (event.eventId === poison) throw new Error("malformed beyond repair");
    });
    startGroup(consumer);
    poison = await append(store.client, `${prefix}1`, "Poison");
    const next = await append(store.client, `${prefix}1`);
    await waitFor("the next event to be handled", () => consumer.done.includes(next));
    await waitFor("the poison event in the parked stream", async () => (await parkedIds(store.client, consumer.group)).includes(poison));
    expect(consumer.seen.filter((event) => event.eventId === poison)).toHaveLength(1);
    expect(consumer.done).not.toContain(poison);
    const parked = await readStream(store.client, parkedStream(consumer.group));
    expect(parked.at(-1)?.type).toBe("$>");
  });

  it("shares the events between two members of one group: each handled exactly once, both get some", async () => {
    const prefix = `${uniqueName("cgc")}-`;
    const group = uniqueName("group-");
    const a = recorder(group, [prefix]);
    const b = recorder(group, [prefix]);
    startGroup(a);
    startGroup(b);
    await waitFor("both members to join", async () => (await connections(group)) === 2);
    const ids: string[] = [];
    for (let i = 0; i < 40; i += 1) ids.push(await append(store.client, `${prefix}${i % 7}`));
    await waitFor("every event handled", () => ids.every((id) => a.done.includes(id) || b.done.includes(id)));
    const handled = [...a.done, ...b.done];
    expect(handled).toHaveLength(ids.length);
    expect(new Set(handled)).toEqual(new Set(ids));
    expect(a.done.length).toBeGreaterThan(0);
    expect(b.done.length).toBeGreaterThan(0);
  });

  it("stop() lets the event in hand finish and acks it; the rest goes to the next member", async () => {
    const prefix = `${uniqueName("cgs")}-`;
    const group = uniqueName("group-");
    const entered = deferred();
    const release = deferred();
    let finished = false;
    let blocking = "";
    const first = recorder(group, [prefix], async (event) => {
      if (event.eventId !== blocking) return;
      entered.resolve();
      await release.promise;
      finished = true;
    });
    const member = startGroup(first);
    await waitFor("the member to join", async () => (await connections(group)) === 1);
    blocking = await append(store.client, `${prefix}1`);
    const rest = [await append(store.client, `${prefix}1`), await append(store.client, `${prefix}2`)];
    await entered.promise;

    const stopping = member.stop();
    expect(await settledYet(stopping)).toBe("pending"); // it waits for the handler in hand
    release.resolve();
    await stopping;
    expect(finished).toBe(true);
    expect(first.done).toEqual([blocking]);
    expect(member.state).toBe("stopped");

    const second = recorder(group, [prefix]);
    startGroup(second);
    await waitFor("the unhandled events to reach the next member", () => rest.every((id) => second.done.includes(id)));
    expect(second.seen.map((event) => event.eventId)).not.toContain(blocking);
  });

  it("stop() right after start() returns even though no event ever arrives", async () => {
    const consumer = recorder(uniqueName("group-"), [`${uniqueName("cgq")}-`]);
    const group = new ConsumerGroup(store.client, consumer, logger);
    group.start();
    // No events will come for this prefix: a stop() that waits for the next event never returns.
    const outcome = await Promise.race([group.stop().then(() => "stopped" as const), sleep(5_000).then(() => "still waiting" as const)]);
    expect(outcome).toBe("stopped");
    expect(await connections(consumer.group)).toBe(0);
  }, 20_000);
});

describe("ConsumerGroup across a restart of the event store", () => {
  it("reconnects by itself when the server comes back on the same port and data directory, and goes on", async () => {
    const dir = tempDir("worker-reconnect-");
    const store = await startStore({ dataDir: dir.path });
    const port = store.server.port;
    const client = store.client; // the application keeps its one client across the outage
    const prefix = `${uniqueName("cgr")}-`;
    const consumer = recorder(uniqueName("group-"), [prefix]);
    const member = new ConsumerGroup(client, consumer, testLogger());
    let restarted: Awaited<ReturnType<typeof startStore>> | undefined;
    try {
      member.start();
      const before: string[] = [];
      for (let i = 0; i < 3; i += 1) before.push(await append(client, `${prefix}${i}`));
      await waitFor("the events before the outage", () => before.every((id) => consumer.done.includes(id)));

      await store.server.stop();
      await waitFor("the member to notice the outage", () => member.state === "reconnecting");

      restarted = await restartStore(dir.path, port);
      await restarted.client.dispose(); // only its server is needed; the member uses the old client

      const after: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        after.push(await waitFor("an append through the old client", () => append(client, `${prefix}after-${i}`), { intervalMs: 200 }));
      }
      await waitFor("the events after the outage", () => after.every((id) => consumer.done.includes(id)), { timeoutMs: 20_000 });
      expect(member.state).toBe("running");
      // At least once: nothing is lost across the restart.
      for (const id of [...before, ...after]) expect(consumer.done).toContain(id);
    } finally {
      await Promise.race([member.stop(), sleep(5000)]);
      await client.dispose().catch(() => undefined);
      await restarted?.server.stop();
      dir.remove();
    }
  }, 60_000);
  it("stops cleanly after an outage interrupted the ack of the event in hand (the event comes again)", async () => {
    const dir = tempDir("worker-reconnect-");
    const store = await startStore({ dataDir: dir.path });
    const port = store.server.port;
    const client = store.client;
    const prefix = `${uniqueName("cgo")}-`;
    const entered = deferred();
    const release = deferred();
    let blocking = "";
    const consumer = recorder(uniqueName("group-"), [prefix], async (event) => {
      if (event.eventId !== blocking || event.retryCount > 0 || consumer.seen.filter((e) => e.eventId === blocking).length > 1) return;
      entered.resolve();
      await release.promise;
    });
    const member = new ConsumerGroup(client, consumer, testLogger());
    let restarted: Store | undefined;
    try {
      member.start();
      blocking = await append(client, `${prefix}1`);
      await entered.promise;
      await store.server.stop(); // the server goes away while the handler works
      release.resolve(); // ... so its ack cannot reach the server
      await waitFor("the member to notice the outage", () => member.state === "reconnecting");
      restarted = await restartStore(dir.path, port);
      await restarted.client.dispose();
      const marker = await waitFor("an append through the old client", () => append(client, `${prefix}2`), { intervalMs: 200 });
      await waitFor("the member to go on after the outage", () => consumer.done.includes(marker), { timeoutMs: 20_000 });
      // The unacknowledged event is delivered again (at least once).
      expect(consumer.seen.filter((event) => event.eventId === blocking).length).toBeGreaterThanOrEqual(2);

      const outcome = await Promise.race([
        member.stop().then(
          () => "stopped",
          (error: unknown) => `stop() threw ${String(error)}`,
        ),
        sleep(5000).then(() => "still stopping"),
      ]);
      expect(outcome).toBe("stopped");
      expect(member.state).toBe("stopped");
    } finally {
      await Promise.race([member.stop().catch(() => undefined), sleep(5000)]);
      await Promise.race([client.dispose().catch(() => undefined), sleep(2000)]);
      await restarted?.server.stop();
      dir.remove();
    }
  }, 60_000);
});
