/**
 * One round trip per command on a warm cache, and what keeps that correct: a stale cache (another
 * repository, i.e. another process, wrote since) still decides on the latest state, refusals and
 * no-ops decided on the cache are checked against the store, retries of one causation write
 * nothing twice, and a stream the caller believed new is read when it exists after all.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { jsonEvent } from "@eventstore/db-client";
import { InsufficientAvailabilityError } from "../../src/domain/index.js";
import { deterministicEventId } from "../../src/core/event-ids.js";
import {
  holdCommand,
  metadata,
  now,
  product,
  productRepository,
  recorded,
  registerCommand,
  registeredProduct,
  twoRepositories,
  useStore,
} from "./support.js";

const store = useStore();

describe("warm cache", () => {
  it("decides on the cached state and appends without reading", async () => {
    const { repository, counts, productId } = await registeredProduct(store().client, 10);
    expect(counts).toEqual({ appends: 1, reads: 1 });

    counts.appends = 0;
    counts.reads = 0;
    const reservationId = randomUUID();
    const held = await repository.handle(productId, holdCommand(reservationId, 2), metadata());
    expect(counts).toEqual({ appends: 1, reads: 0 });
    expect(held.revision).toBe(1);
    expect(held.events.map((event) => event.type)).toEqual(["UnitsHeld"]);
    expect(product(held.state)).toMatchObject({ held: 2, available: 8 });
    expect(product(held.state).allocations.get(reservationId)).toEqual({ quantity: 2, stage: "held" });
  });

  it("reads first when the stream is not cached", async () => {
    const writer = productRepository(store().client).repository;
    const productId = randomUUID();
    await writer.handle(productId, registerCommand(productId, 10), metadata());

    const { repository, counts } = productRepository(store().client);
    const held = await repository.handle(productId, holdCommand(randomUUID()), metadata());
    expect(counts).toEqual({ appends: 1, reads: 1 });
    expect(held.revision).toBe(1);
  });
});

describe("loads up to a known revision", () => {
  it("answers from the cache when it is at that revision or later, and reads when it is behind", async () => {
    const { repository, counts, productId } = await registeredProduct(store().client, 10);
    await repository.handle(productId, holdCommand(randomUUID(), 1), metadata());
    counts.reads = 0;

    expect((await repository.load(productId, { atLeastRevision: 1 })).revision).toBe(1);
    expect((await repository.load(productId, { atLeastRevision: 0 })).revision).toBe(1);
    expect(counts.reads).toBe(0);

    // Another process appends revision 2: a consumer handling that event must see it.
    const other = productRepository(store().client).repository;
    await other.handle(productId, holdCommand(randomUUID(), 2), metadata());
    const loaded = await repository.load(productId, { atLeastRevision: 2 });
    expect(counts.reads).toBe(1);
    expect(loaded.revision).toBe(2);
    expect(product(loaded.state).held).toBe(3);

    // A plain load always reads.
    await repository.load(productId);
    expect(counts.reads).toBe(2);
  });

  it("reads a stream it has not cached", async () => {
    const writer = productRepository(store().client).repository;
    const productId = randomUUID();
    await writer.handle(productId, registerCommand(productId, 10), metadata());
    const { repository, counts } = productRepository(store().client);
    expect((await repository.load(productId, { atLeastRevision: 0 })).revision).toBe(0);
    expect(counts.reads).toBe(1);
  });
});

describe("stale cache", () => {
  it("catches up after another process wrote, and never oversells", async () => {
    const { a, b, productId } = await twoRepositories(store().client, 3);
    await a.repository.handle(productId, holdCommand(randomUUID(), 1), metadata());
    // B takes the last two units; A's cache still says two are available.
    await b.repository.handle(productId, holdCommand(randomUUID(), 2), metadata());

    a.counts.appends = 0;
    a.counts.reads = 0;
    await expect(a.repository.handle(productId, holdCommand(randomUUID(), 1), metadata())).rejects.toBeInstanceOf(
      InsufficientAvailabilityError,
    );
    // The optimistic append failed, the new event was read, and the command refused on it.
    expect(a.counts).toEqual({ appends: 1, reads: 1 });
    const types = (await recorded(store().client, a.repository.streamOf(productId))).map((event) => event.type);
    expect(types).toEqual(["ProductRegistered", "UnitsHeld", "UnitsHeld"]);
    expect(product((await a.repository.load(productId)).state)).toMatchObject({ held: 3, available: 0 });
  });

  it("decides on events appended by a raw client in between", async () => {
    const { client } = store();
    const { repository } = productRepository(client);
    const productId = randomUUID();
    await repository.handle(productId, registerCommand(productId, 5), metadata());
    const at = now();
    await client.appendToStream(
      repository.streamOf(productId),
      jsonEvent({ type: "UnitsHeld", data: { reservationId: randomUUID(), quantity: 4, heldAt: at, expiresAt: at } }),
    );

    const held = await repository.handle(productId, holdCommand(randomUUID(), 1), metadata());
    expect(held.revision).toBe(2);
    expect(product(held.state)).toMatchObject({ held: 5, available: 0 });
    await expect(repository.handle(productId, holdCommand(randomUUID(), 1), metadata())).rejects.toBeInstanceOf(
      InsufficientAvailabilityError,
    );
  });

  it("does not trust a refusal decided on the cache: the store may have more room", async () => {
    const a = productRepository(store().client);
    const b = productRepository(store().client);
    const productId = randomUUID();
    const first = randomUUID();
    await a.repository.handle(productId, registerCommand(productId, 1), metadata());
    await a.repository.handle(productId, holdCommand(first), metadata());
    // B releases the only unit; A's cache still says none is available.
    await b.repository.handle(
      productId,
      () => ({ type: "ReleaseUnits", data: { reservationId: first, reason: "cancelled", now: now() } }),
      metadata(),
    );

    a.counts.appends = 0;
    a.counts.reads = 0;
    const held = await a.repository.handle(productId, holdCommand(randomUUID()), metadata());
    expect(product(held.state)).toMatchObject({ held: 1, available: 0 });
    expect(held.revision).toBe(3);
    expect(a.counts).toEqual({ appends: 1, reads: 1 });
  });

  it("does not trust a no-op decided on the cache: the store may have changed", async () => {
    const { a, b, productId } = await twoRepositories(store().client, 1);
    await b.repository.handle(productId, () => ({ type: "UpdateProduct", data: { name: "renamed", now: now() } }), metadata());

    // By A's cache the name is already "test product": nothing to do. By the store it is not.
    const updated = await a.repository.handle(
      productId,
      () => ({ type: "UpdateProduct", data: { name: "test product", now: now() } }),
      metadata(),
    );
    expect(updated.events.map((event) => event.type)).toEqual(["ProductUpdated"]);
    expect(product(updated.state).name).toBe("test product");
    expect(updated.revision).toBe(2);
  });
});

describe("idempotent retries", () => {
  it("a retried causation on the same repository writes nothing twice", async () => {
    const { repository } = productRepository(store().client);
    const productId = randomUUID();
    const reservationId = randomUUID();
    const causation = metadata();
    await repository.handle(productId, registerCommand(productId, 5), metadata());
    const first = await repository.handle(productId, holdCommand(reservationId), causation);
    const retried = await repository.handle(productId, holdCommand(reservationId), causation);
    expect(first.events).toHaveLength(1);
    expect(retried.events).toHaveLength(0);
    expect(retried.revision).toBe(1);
    const events = await recorded(store().client, repository.streamOf(productId));
    expect(events.map((event) => event.type)).toEqual(["ProductRegistered", "UnitsHeld"]);
  });

  it("a causation retried by a stale repository is an idempotent append, and the cache stays right", async () => {
    const a = productRepository(store().client);
    const b = productRepository(store().client);
    const productId = randomUUID();
    const reservationId = randomUUID();
    const causation = metadata();
    await a.repository.handle(productId, registerCommand(productId, 5), metadata());
    await b.repository.load(productId);
    // A handles the command; B, its cache still at revision 0, handles the same causation again.
    await a.repository.handle(productId, holdCommand(reservationId, 2), causation);
    await a.repository.handle(productId, holdCommand(randomUUID(), 1), metadata());

    const retried = await b.repository.handle(productId, holdCommand(reservationId, 2), causation);
    // Same ids at the same revision: EventStoreDB acknowledges the append and writes nothing.
    expect(retried.revision).toBe(1);
    const streamId = a.repository.streamOf(productId);
    const events = await recorded(store().client, streamId);
    expect(events.map((event) => event.type)).toEqual(["ProductRegistered", "UnitsHeld", "UnitsHeld"]);
    expect(events[1]?.id).toBe(deterministicEventId(causation.causationId, streamId, 1));

    // B's cache is at the revision its own events reached; the next command catches up from there.
    const next = await b.repository.handle(productId, holdCommand(randomUUID(), 2), metadata());
    expect(next.revision).toBe(3);
    expect(product(next.state)).toMatchObject({ held: 5, available: 0 });
    await expect(b.repository.handle(productId, holdCommand(randomUUID(), 1), metadata())).rejects.toBeInstanceOf(
      InsufficientAvailabilityError,
    );
  });
});

describe("expectNew", () => {
  it("appends to a new stream without reading", async () => {
    const { repository, counts } = productRepository(store().client);
    const productId = randomUUID();
    const registered = await repository.handle(productId, registerCommand(productId, 4), metadata(), { expectNew: true });
    expect(counts).toEqual({ appends: 1, reads: 0 });
    expect(registered.revision).toBe(0);
    expect(product(registered.state).capacity).toBe(4);

    // The state is cached: the next command is one round trip too.
    await repository.handle(productId, holdCommand(randomUUID()), metadata());
    expect(counts).toEqual({ appends: 2, reads: 0 });
  });

  it("reads and decides again when the stream exists after all (a retried request)", async () => {
    const writer = productRepository(store().client).repository;
    const productId = randomUUID();
    await writer.handle(productId, registerCommand(productId, 4), metadata());

    const { repository, counts } = productRepository(store().client);
    const again = await repository.handle(productId, registerCommand(productId, 9), metadata(), { expectNew: true });
    // RegisterProduct on a registered product is a no-op: the original product is the answer.
    expect(again.events).toHaveLength(0);
    expect(again.revision).toBe(0);
    expect(product(again.state).capacity).toBe(4);
    expect(counts).toEqual({ appends: 1, reads: 1 });
    expect(await recorded(store().client, repository.streamOf(productId))).toHaveLength(1);
  });

  it("does not take a refusal decided on the assumed empty stream as final", async () => {
    const writer = productRepository(store().client).repository;
    const productId = randomUUID();
    await writer.handle(productId, registerCommand(productId, 4), metadata());

    const { repository, counts } = productRepository(store().client);
    // On an empty stream HoldUnits is refused (no such product); the stream exists, so it is read.
    const held = await repository.handle(productId, holdCommand(randomUUID()), metadata(), { expectNew: true });
    expect(held.revision).toBe(1);
    expect(counts).toEqual({ appends: 1, reads: 1 });
  });
});
