/**
 * No readable event at position 0 of `$all`.
 *
 * A new EventStoreDB node writes its first epoch record (`$epoch-information`, never shown by `$all`)
 * before anything else, so the first event a `$all` read returns is past commit/prepare 0. That
 * matters because the protocol uses C:0/P:0 for "the start": the client reads a `$all` group's
 * `startFrom` of "C:0/P:0" back as START (`mapPersistentSubscriptionInfo.stringToStartFromPostition`),
 * so a group created from the first event would look created from the start, and a checkpoint at 0
 * would look like none. Each test file gets a fresh embedded server, which is what this is about.
 */
import { describe, expect, it } from "vitest";
import { FORWARDS, START, persistentSubscriptionToAllSettingsFromDefaults } from "@eventstore/db-client";
import { collect, uniqueGroup, useEventStore } from "./support.js";

const es = useEventStore();

describe("$all on a fresh node", () => {
  it("has no readable event at position 0: the first one is past commit and prepare 0", async () => {
    const { client } = es();
    const [first] = await collect(client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: 1 }));
    expect(first?.event).toBeDefined();
    expect(first!.event!.position.commit).toBeGreaterThan(0n);
    expect(first!.event!.position.prepare).toBeGreaterThan(0n);
    // Reading from position 0 and from START is the same read.
    const [fromZero] = await collect(client.readAll({ direction: FORWARDS, fromPosition: { commit: 0n, prepare: 0n }, maxCount: 1 }));
    expect(fromZero?.event?.id).toBe(first!.event!.id);
  });

  it("a $all group created from the first event reports that position, not START", async () => {
    const { client } = es();
    const [first] = await collect(client.readAll({ direction: FORWARDS, fromPosition: START, maxCount: 1 }));
    const position = first!.event!.position;
    const group = uniqueGroup("from-first");
    await client.createPersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: position }));
    try {
      const info = await client.getPersistentSubscriptionToAllInfo(group);
      expect(info.settings.startFrom).toEqual(position);
    } finally {
      await client.deletePersistentSubscriptionToAll(group);
    }
  });
});
