/**
 * Deciding a batch with the real product decider, no store: the base state (the repository's cached
 * one) must come out untouched until the batch is settled, because an append that fails with a
 * wrong expected version catches up from it. The product decider evolves its allocations map in
 * place, which is exactly what a careless batch would corrupt.
 */
import { describe, expect, it } from "vitest";
import { isRegistered, productDecider, type Product, type ProductCommand, type ProductState } from "../../src/domain/index.js";
import { decideBatch } from "../../src/infrastructure/eventstore/batch-decision.js";

const NOW = "2030-01-01T00:00:00.000Z";

const registered = (capacity: number): Product => {
  const [event] = productDecider.decide(
    { type: "RegisterProduct", data: { productId: "p", sellerId: "s", name: "n", capacity, unitPrice: 1, now: NOW } },
    productDecider.initialState,
  );
  if (!event) throw new Error("not registered");
  const state = productDecider.evolve(productDecider.initialState, event);
  if (!isRegistered(state)) throw new Error("not registered");
  return state;
};

const hold =
  (reservationId: string, quantity = 1) =>
  (): ProductCommand => ({
    type: "HoldUnits",
    data: { reservationId, quantity, now: NOW },
  });

const counting = () => {
  let copies = 0;
  return {
    copy: (state: ProductState): ProductState => {
      copies += 1;
      return structuredClone(state);
    },
    copies: () => copies,
  };
};

const unlimited = { maxBytes: Number.MAX_SAFE_INTEGER, weigh: () => 1 };

describe("decideBatch", () => {
  it("decides each command on its predecessors' events and leaves the base untouched until settled", () => {
    const base = registered(2);
    const { copy, copies } = counting();
    const batch = decideBatch(productDecider, { state: base, revision: 0 }, [hold("a"), hold("b"), hold("c"), hold("a")], copy, unlimited);

    expect(batch.changes.map((change) => change.commandIndex)).toEqual([0, 1]);
    expect(batch.taken).toBe(4);
    expect(base.allocations.size).toBe(0);
    expect(base.held).toBe(0);
    expect(copies()).toBe(1);

    const settled = batch.settle();
    expect(settled.revision).toBe(2);
    expect(settled.decisions.map((decision) => decision.kind)).toEqual(["changed", "changed", "refused", "unchanged"]);
    const [first, second, , repeat] = settled.decisions;
    expect(first).toMatchObject({ kind: "changed", revision: 1, state: { held: 1 } });
    expect(second).toMatchObject({ kind: "changed", revision: 2, state: { held: 2 } });
    // "a" again is the idempotent repeat of the first hold, decided on the state after both holds.
    expect(repeat).toMatchObject({ kind: "unchanged", revision: 2, state: { held: 2 } });
    expect(base.allocations.size).toBe(0);
  });

  it("a single changed command needs no copy: its events are applied after the append", () => {
    const base = registered(2);
    const { copy, copies } = counting();
    const batch = decideBatch(productDecider, { state: base, revision: 0 }, [hold("a")], copy, unlimited);
    expect(base.allocations.size).toBe(0);
    const settled = batch.settle();
    expect(copies()).toBe(0);
    expect(settled.state).toMatchObject({ held: 1 });
  });

  it("leaves out the commands whose events would exceed the size limit, but always takes the first", () => {
    const base = registered(10);
    const { copy } = counting();
    const batch = decideBatch(productDecider, { state: base, revision: 0 }, [hold("a"), hold("b"), hold("c")], copy, {
      maxBytes: 2,
      weigh: () => 1,
    });
    expect(batch.taken).toBe(2);
    expect(batch.changes).toHaveLength(2);

    const alone = decideBatch(productDecider, { state: base, revision: 0 }, [hold("a"), hold("b")], copy, { maxBytes: 0, weigh: () => 1 });
    expect(alone.taken).toBe(1);
  });

  it("a refusal contributes nothing and hands its own error back", () => {
    const base = registered(1);
    const batch = decideBatch(productDecider, { state: base, revision: 0 }, [hold("a", 2), hold("b", 1)], counting().copy, unlimited);
    const settled = batch.settle();
    expect(settled.decisions[0]).toMatchObject({ kind: "refused" });
    expect(settled.decisions[1]).toMatchObject({ kind: "changed", revision: 1 });
  });
});
