/**
 * The per-key queues behind concurrent consumers (src/infrastructure/eventstore/keyed-dispatcher.ts): units of
 * different keys overlap, one key's items never do and keep their order, batches take every ready
 * key's waiting items, and pause/drop/room/idle do what stop and reconnect rely on. Every handler
 * is a promise the test settles itself; nothing depends on timing.
 */
import { describe, expect, it } from "vitest";
import { KeyedDispatcher } from "../../src/infrastructure/eventstore/keyed-dispatcher.js";
import { type Deferred, deferred, settledYet } from "./support.js";

interface Item {
  readonly key: string;
  readonly n: number;
}

/** A dispatcher whose units wait until the test releases them; it records starts and ends. */
const controlled = (concurrency: number, maxBatch = 1) => {
  const log: string[] = [];
  const units: Array<{ items: readonly Item[]; gate: Deferred }> = [];
  const dispatcher = new KeyedDispatcher<Item>({
    keyOf: (item) => item.key,
    concurrency,
    maxBatch,
    run: async (items) => {
      const gate = deferred();
      const label = items.map((item) => `${item.key}${item.n}`).join("+");
      units.push({ items, gate });
      log.push(`start ${label}`);
      await gate.promise;
      log.push(`end ${label}`);
    },
  });
  const release = async (label: string): Promise<void> => {
    const unit = units.find((candidate) => candidate.items.map((item) => `${item.key}${item.n}`).join("+") === label);
    if (!unit)
      throw new Error(`no unit ${label} started; started: ${units.map((u) => u.items.map((i) => `${i.key}${i.n}`).join("+")).join(", ")}`);
    unit.gate.resolve();
    // Let the unit's end and the next start run.
    for (let i = 0; i < 5; i += 1) await Promise.resolve();
    await new Promise((resolve) => setImmediate(resolve));
  };
  return { dispatcher, log, release };
};

describe("KeyedDispatcher", () => {
  it("runs different keys side by side and one key strictly in arrival order", async () => {
    const { dispatcher, log, release } = controlled(4);
    dispatcher.push({ key: "a", n: 1 });
    dispatcher.push({ key: "b", n: 1 });
    dispatcher.push({ key: "a", n: 2 });
    dispatcher.push({ key: "c", n: 1 });
    dispatcher.push({ key: "a", n: 3 });
    // a1, b1, c1 run at once; a2 waits for a1 although units are free.
    expect(log).toEqual(["start a1", "start b1", "start c1"]);

    await release("b1");
    await release("c1");
    expect(log).not.toContain("start a2");
    await release("a1");
    expect(log.slice(-2)).toEqual(["end a1", "start a2"]);
    await release("a2");
    expect(log.slice(-2)).toEqual(["end a2", "start a3"]);
    await release("a3");
    expect(dispatcher.held).toBe(0);
    await dispatcher.idle();
  });

  it("never runs more units than its concurrency; a waiting key starts when a unit ends", async () => {
    const { dispatcher, log, release } = controlled(2);
    for (const key of ["a", "b", "c", "d"]) dispatcher.push({ key, n: 1 });
    expect(log).toEqual(["start a1", "start b1"]);
    await release("b1");
    expect(log).toEqual(["start a1", "start b1", "end b1", "start c1"]);
    await release("a1");
    expect(log.at(-1)).toBe("start d1");
    await release("c1");
    await release("d1");
    expect(dispatcher.held).toBe(0);
  });

  it("with one key (no ordering declared) it handles one item at a time, in order", async () => {
    const { dispatcher, log, release } = controlled(1);
    for (let n = 1; n <= 3; n += 1) dispatcher.push({ key: "", n });
    expect(log).toEqual(["start 1"]);
    await release("1");
    await release("2");
    await release("3");
    expect(log).toEqual(["start 1", "end 1", "start 2", "end 2", "start 3", "end 3"]);
  });

  it("batches what is waiting across ready keys, in arrival order per key, up to maxBatch", async () => {
    const { dispatcher, log, release } = controlled(1, 3);
    dispatcher.push({ key: "a", n: 1 }); // starts alone: nothing else was waiting
    dispatcher.push({ key: "a", n: 2 });
    dispatcher.push({ key: "b", n: 1 });
    dispatcher.push({ key: "a", n: 3 });
    dispatcher.push({ key: "c", n: 1 });
    dispatcher.push({ key: "b", n: 2 });
    expect(log).toEqual(["start a1"]);
    await release("a1");
    // a is back in line (a2, a3 waiting) behind b (b1, b2) and c, and the unit is full before it.
    expect(log.at(-1)).toBe("start b1+b2+c1");
    await release("b1+b2+c1");
    expect(log.at(-1)).toBe("start a2+a3");
    await release("a2+a3");
    expect(dispatcher.held).toBe(0);
  });

  it("room() waits while the limit is held and lets go when a unit ends or on pause", async () => {
    const { dispatcher, release } = controlled(1);
    dispatcher.push({ key: "a", n: 1 });
    dispatcher.push({ key: "b", n: 1 });
    const waiting = dispatcher.room(2);
    expect(await settledYet(waiting)).toBe("pending");
    await release("a1");
    expect(await settledYet(waiting)).toBe("resolved");

    dispatcher.push({ key: "c", n: 1 });
    const again = dispatcher.room(2);
    expect(await settledYet(again)).toBe("pending");
    dispatcher.pause();
    expect(await settledYet(again)).toBe("resolved");
  });

  it("pause() starts nothing more, idle() waits for what runs, drop() forgets what waits", async () => {
    const { dispatcher, log, release } = controlled(1);
    dispatcher.push({ key: "a", n: 1 });
    dispatcher.push({ key: "b", n: 1 });
    dispatcher.push({ key: "b", n: 2 });
    dispatcher.pause();
    const idle = dispatcher.idle();
    expect(await settledYet(idle)).toBe("pending");
    await release("a1");
    expect(await settledYet(idle)).toBe("resolved");
    expect(log).toEqual(["start a1", "end a1"]);
    expect(dispatcher.held).toBe(2);
    dispatcher.drop((item) => item.key === "b");
    expect(dispatcher.held).toBe(0);
  });

  it("drop() of a running key's waiting items leaves the running unit alone and the key usable", async () => {
    const { dispatcher, log, release } = controlled(2);
    dispatcher.push({ key: "a", n: 1 });
    dispatcher.push({ key: "a", n: 2 });
    dispatcher.drop((item) => item.n === 2);
    expect(dispatcher.held).toBe(1);
    dispatcher.push({ key: "a", n: 3 });
    expect(log).toEqual(["start a1"]);
    await release("a1");
    expect(log.at(-1)).toBe("start a3");
    await release("a3");
    expect(dispatcher.held).toBe(0);
  });

  it("a rejecting unit frees its keys like any other", async () => {
    let fail = true;
    const seen: number[] = [];
    const dispatcher = new KeyedDispatcher<Item>({
      keyOf: (item) => item.key,
      concurrency: 1,
      maxBatch: 1,
      run: async (items) => {
        seen.push(...items.map((item) => item.n));
        if (fail) {
          fail = false;
          throw new Error("boom");
        }
      },
    });
    dispatcher.push({ key: "a", n: 1 });
    dispatcher.push({ key: "a", n: 2 });
    await new Promise((resolve) => setImmediate(resolve));
    await dispatcher.idle();
    expect(seen).toEqual([1, 2]);
    expect(dispatcher.held).toBe(0);
  });
});
