/**
 * Commands queued on one stream are decided together and written in one append; each caller still
 * gets its own answer (its events, its revision, its refusal), and the batch obeys the same rules
 * as a single command: a stale cache is caught up, nothing is oversold, and bounds hold.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ServiceUnavailableError } from "../../src/application/errors.js";
import { InsufficientAvailabilityError } from "../../src/domain/index.js";
import { productAggregate } from "../../src/application/aggregates.js";
import { AggregateRepository, type StreamClient } from "../../src/infrastructure/eventstore/aggregate-repository.js";
import { deterministicEventId } from "../../src/core/event-ids.js";
import {
  holdCommand,
  metadata,
  product,
  productRepository,
  recorded,
  registerCommand,
  registeredProduct,
  settleAll,
  twoRepositories,
  useStore,
  type ProductRepository,
} from "./support.js";

const store = useStore();

/** Ten callers hold one unit each on the same product at the same time, so that their commands queue up together. */
const tenHoldsAtOnce = (repository: ProductRepository, productId: string) =>
  Promise.all(Array.from({ length: 10 }, () => repository.handle(productId, holdCommand(randomUUID()), metadata())));

describe("batched decisions on one stream", () => {
  it("15 concurrent holds on capacity 10: one append, 10 holds, 5 refusals, each its own answer", async () => {
    const { repository, counts } = productRepository(store().client);
    const productId = randomUUID();
    const streamId = repository.streamOf(productId);
    await repository.handle(productId, registerCommand(productId, 10), metadata());
    counts.appends = 0;
    counts.reads = 0;

    const commands = Array.from({ length: 15 }, () => ({ reservationId: randomUUID(), metadata: metadata() }));
    const outcomes = await settleAll(
      commands.map((command) => repository.handle(productId, holdCommand(command.reservationId), command.metadata)),
    );
    expect(counts).toEqual({ appends: 1, reads: 0 });

    const held = outcomes.flatMap((outcome, index) => (outcome.ok ? [{ ...outcome.value, command: commands[index] }] : []));
    const refused = outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.error]));
    expect(held).toHaveLength(10);
    expect(refused).toHaveLength(5);
    for (const error of refused) expect(error).toBeInstanceOf(InsufficientAvailabilityError);
    // Arrival order is decision order: the first ten hold, revisions 1..10.
    expect(outcomes.slice(0, 10).every((outcome) => outcome.ok)).toBe(true);
    held.forEach((answer, index) => {
      expect(answer.revision).toBe(index + 1);
      expect(answer.events).toEqual([
        expect.objectContaining({ type: "UnitsHeld", data: expect.objectContaining({ reservationId: answer.command?.reservationId }) }),
      ]);
      // Each answer's counts are as of its own revision.
      expect(product(answer.state)).toMatchObject({ held: index + 1, available: 10 - index - 1 });
      expect(product(answer.state).allocations.get(answer.command?.reservationId ?? "")?.stage).toBe("held");
    });

    const events = await recorded(store().client, streamId);
    expect(events.map((event) => event.type)).toEqual(["ProductRegistered", ...Array.from({ length: 10 }, () => "UnitsHeld")]);
    // Ids stay deterministic per command: its causation, the stream, the revision it landed at.
    held.forEach((answer, index) => {
      expect(events[index + 1]?.id).toBe(deterministicEventId(answer.command?.metadata.causationId ?? "", streamId, index + 1));
    });
  });

  it("a batch on a stale cache catches up once, decides again and never oversells", async () => {
    const { a, b, productId } = await twoRepositories(store().client, 10);
    await b.repository.handle(productId, holdCommand(randomUUID(), 4), metadata());
    a.counts.appends = 0;
    a.counts.reads = 0;

    const outcomes = await settleAll(
      Array.from({ length: 15 }, () => a.repository.handle(productId, holdCommand(randomUUID()), metadata())),
    );
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(6);
    expect(outcomes.filter((outcome) => !outcome.ok && outcome.error instanceof InsufficientAvailabilityError)).toHaveLength(9);
    expect(a.counts).toEqual({ appends: 2, reads: 1 });

    // The failed first attempt (ten holds decided on the stale state) left no trace in the cache:
    // A's state (load reads nothing new here) equals one rebuilt from the store, allocations included.
    const cached = product((await a.repository.load(productId)).state);
    const rebuilt = product((await productRepository(store().client).repository.load(productId)).state);
    expect({ held: cached.held, available: cached.available, allocations: [...cached.allocations] }).toEqual({
      held: rebuilt.held,
      available: rebuilt.available,
      allocations: [...rebuilt.allocations],
    });
    expect(rebuilt).toMatchObject({ held: 10, available: 0 });
  });

  it("takes at most maxBatchCommands commands per append", async () => {
    const { repository, counts, productId } = await registeredProduct(store().client, 100, { maxBatchCommands: 4 });
    counts.appends = 0;

    const answers = await tenHoldsAtOnce(repository, productId);
    expect(counts.appends).toBe(3);
    expect(answers.map((answer) => answer.revision)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("splits a batch whose events would exceed the append size limit", async () => {
    const { repository, counts, productId } = await registeredProduct(store().client, 100, { maxAppendBytes: 1200 });
    counts.appends = 0;

    const answers = await tenHoldsAtOnce(repository, productId);
    expect(counts.appends).toBeGreaterThan(1);
    expect(counts.appends).toBeLessThan(10);
    expect(answers.map((answer) => answer.revision)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await recorded(store().client, repository.streamOf(productId))).toHaveLength(11);
  });

  it("a command that waits past lockWaitMs gets a 503 and is never decided", async () => {
    const { client } = store();
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let gated = false;
    // Holds the first append after `gated` is set until the test opens the gate.
    const slow: StreamClient = {
      appendToStream: async (...args: Parameters<StreamClient["appendToStream"]>) => {
        if (gated) await gate;
        return client.appendToStream(...args);
      },
      readStream: (...args: Parameters<StreamClient["readStream"]>) => client.readStream(...args),
    };
    const repository = new AggregateRepository(slow, productAggregate, { lockWaitMs: 20 });
    const productId = randomUUID();
    await repository.handle(productId, registerCommand(productId, 10), metadata());

    gated = true;
    const first = repository.handle(productId, holdCommand(randomUUID()), metadata());
    await new Promise((resolve) => setImmediate(resolve));
    let decided = false;
    const second = repository.handle(
      productId,
      () => {
        decided = true;
        return holdCommand(randomUUID())();
      },
      metadata(),
    );
    await expect(second).rejects.toBeInstanceOf(ServiceUnavailableError);
    open();
    expect((await first).revision).toBe(1);
    expect(decided).toBe(false);
  });

  it("concurrent loads of one stream share one read", async () => {
    const { repository, counts, productId } = await registeredProduct(store().client, 10);
    counts.reads = 0;
    const loaded = await Promise.all([repository.load(productId), repository.load(productId), repository.load(productId)]);
    expect(counts.reads).toBe(1);
    expect(loaded.map((entry) => entry.revision)).toEqual([0, 0, 0]);
  });
});
