import { describe, expect, test } from "vitest";
import { fold } from "../../src/domain/decider.js";
import {
  CapacityBelowAllocatedError,
  InsufficientAvailabilityError,
  PerCustomerLimitError,
  PriceChangedError,
  InvalidCommandError,
  NotFoundError,
  ProductWithdrawnError,
  UnitsInUseError,
} from "../../src/domain/errors.js";
import { EventSchemaError } from "../../src/domain/events.js";
import {
  parseProductEvent,
  productDecider,
  productEventSchemas,
  type Product,
  type ProductCommand,
  type ProductEvent,
  type ProductRegistered,
  type ProductState,
  type ReleaseReason,
} from "../../src/domain/product/index.js";
import { testRejections, testRoundTrips } from "./event-schemas.js";
import { given as givenEvents } from "./given-when-then.js";

const PRODUCT = "6f1c2a9e-8d3b-4c1e-9a7f-0b2d4e6f8a10";
const R1 = "11111111-1111-4111-8111-111111111111";
const R2 = "22222222-2222-4222-8222-222222222222";
const R3 = "33333333-3333-4333-8333-333333333333";
const T0 = "2025-03-01T09:00:00.000Z";
const T1 = "2025-03-01T09:05:00.000Z";

const given = (...history: ProductEvent[]) => givenEvents(productDecider, history, { validate: (e) => parseProductEvent(e.type, e.data) });

// Events

const registered = (terms: Partial<ProductRegistered["data"]> = {}): ProductEvent => ({
  type: "ProductRegistered",
  data: {
    productId: PRODUCT,
    sellerId: "seller-1",
    name: "Kickboard",
    capacity: 5,
    unitPrice: 1000,
    currency: "KRW",
    kind: "sale",
    sellerAcceptance: false,
    fulfilmentSteps: [],
    holdTtlSeconds: 900,
    registeredAt: T0,
    ...terms,
  },
});
const rental = (capacity = 5) => registered({ kind: "rental", capacity });
const held = (reservationId: string, quantity: number, at = T0): ProductEvent => ({
  type: "UnitsHeld",
  data: { reservationId, quantity, heldAt: at, expiresAt: new Date(Date.parse(at) + 900_000).toISOString() },
});
const committed = (reservationId: string, quantity: number): ProductEvent => ({
  type: "HeldUnitsCommitted",
  data: { reservationId, quantity, committedAt: T1 },
});
const heldReleased = (reservationId: string, quantity: number, reason: ReleaseReason = "expired"): ProductEvent => ({
  type: "HeldUnitsReleased",
  data: { reservationId, quantity, reason, releasedAt: T1 },
});
const committedReleased = (reservationId: string, quantity: number, reason: ReleaseReason = "cancelled"): ProductEvent => ({
  type: "CommittedUnitsReleased",
  data: { reservationId, quantity, reason, releasedAt: T1 },
});
const withdrawn: ProductEvent = { type: "ProductWithdrawn", data: { withdrawnAt: T1 } };
const updated = (changes: { name?: string; capacity?: number; unitPrice?: number }): ProductEvent => ({
  type: "ProductUpdated",
  data: { ...changes, updatedAt: T1 },
});

// Commands

const register = (terms: Partial<Extract<ProductCommand, { type: "RegisterProduct" }>["data"]> = {}): ProductCommand => ({
  type: "RegisterProduct",
  data: { productId: PRODUCT, sellerId: "seller-1", name: "Kickboard", capacity: 5, unitPrice: 1000, now: T0, ...terms },
});
const update = (changes: { name?: string; capacity?: number; unitPrice?: number }): ProductCommand => ({
  type: "UpdateProduct",
  data: { ...changes, now: T1 },
});
const withdraw: ProductCommand = { type: "WithdrawProduct", data: { now: T1 } };
const hold = (reservationId: string, quantity: number, now = T0): ProductCommand => ({
  type: "HoldUnits",
  data: { reservationId, quantity, now },
});
const commit = (reservationId: string): ProductCommand => ({ type: "CommitHeldUnits", data: { reservationId, now: T1 } });
const release = (reservationId: string, reason: ReleaseReason = "cancelled"): ProductCommand => ({
  type: "ReleaseUnits",
  data: { reservationId, reason, now: T1 },
});

const stateOf = (...history: ProductEvent[]): Product => {
  const state: ProductState = fold(productDecider, history);
  if (state.status === "unregistered") throw new Error("not registered");
  return state;
};

describe("RegisterProduct", () => {
  test("registers a product with the defaults: KRW, sale, no acceptance, no steps, 900 s hold", () => {
    given().when(register()).then([registered()]);
  });

  test("registers a product with explicit terms", () => {
    // The event records the terms exactly as the command gave them.
    const terms = {
      currency: "USD",
      kind: "rental" as const,
      sellerAcceptance: true,
      fulfilmentSteps: ["cooking", "delivered"],
      holdTtlSeconds: 60,
      unitPrice: 0,
    };
    given()
      .when(register(terms))
      .then([registered(terms)]);
  });

  test("registering an existing product again is a retry and changes nothing", () => {
    given(registered())
      .when(register({ name: "Other" }))
      .thenNothing();
  });

  test.each([
    ["an empty name", { name: " " }, "name"],
    ["a name over 200 characters", { name: "x".repeat(201) }, "name"],
    ["a capacity of 0", { capacity: 0 }, "capacity"],
    ["a fractional capacity", { capacity: 1.5 }, "capacity"],
    ["a capacity over 1,000,000", { capacity: 1_000_001 }, "capacity"],
    ["a negative price", { unitPrice: -1 }, "unitPrice"],
    ["a currency that is not ISO 4217", { currency: "won" }, "currency"],
    ["a hold TTL under 10 s", { holdTtlSeconds: 9 }, "holdTtlSeconds"],
    ["a hold TTL over a day", { holdTtlSeconds: 86_401 }, "holdTtlSeconds"],
    ["duplicate steps", { fulfilmentSteps: ["a", "a"] }, "fulfilmentSteps"],
    ["more than 10 steps", { fulfilmentSteps: Array.from({ length: 11 }, (_, i) => `s${i}`) }, "fulfilmentSteps"],
    ["an empty step name", { fulfilmentSteps: [""] }, "fulfilmentSteps[0]"],
    ["an invalid time", { now: "yesterday" }, "now"],
  ])("refuses %s", (_, terms, field) => {
    given().when(register(terms)).thenThrows(InvalidCommandError, "invalid-command", { field });
  });

  test.each<[string, ProductCommand]>([
    ["UpdateProduct", update({ name: "x" })],
    ["WithdrawProduct", withdraw],
    ["HoldUnits", hold(R1, 1)],
    ["CommitHeldUnits", commit(R1)],
    ["ReleaseUnits", release(R1)],
  ])("%s on an unregistered product is refused as not found", (_, command) => {
    given().when(command).thenThrows(NotFoundError, "not-found", { aggregate: "product" });
  });
});

describe("UpdateProduct", () => {
  test("records only the fields that change", () => {
    given(registered())
      .when(update({ name: "Scooter", capacity: 5, unitPrice: 2000 }))
      .then([updated({ name: "Scooter", unitPrice: 2000 })]);
  });

  test("an update that changes nothing decides nothing", () => {
    given(registered())
      .when(update({ name: "Kickboard", capacity: 5 }))
      .thenNothing();
    given(registered()).when(update({})).thenNothing();
  });

  test("capacity can grow while units are held", () => {
    given(registered(), held(R1, 5))
      .when(update({ capacity: 8 }))
      .then([updated({ capacity: 8 })]);
  });

  test("capacity can shrink down to exactly held + committed", () => {
    given(registered(), held(R1, 2), held(R2, 1), committed(R2, 1))
      .when(update({ capacity: 3 }))
      .then([updated({ capacity: 3 })]);
  });

  test("capacity below held + committed is refused", () => {
    given(registered(), held(R1, 2), held(R2, 1), committed(R2, 1))
      .when(update({ capacity: 2 }))
      .thenThrows(CapacityBelowAllocatedError, "capacity-below-allocated", { capacity: 2, held: 2, committed: 1 });
  });

  test("released units no longer count against a smaller capacity", () => {
    given(registered(), held(R1, 4), heldReleased(R1, 4))
      .when(update({ capacity: 1 }))
      .then([updated({ capacity: 1 })]);
  });

  test("a withdrawn product cannot be updated", () => {
    given(registered(), withdrawn)
      .when(update({ name: "x" }))
      .thenThrows(ProductWithdrawnError, "product-withdrawn");
  });

  test.each([
    ["an empty name", { name: "" }],
    ["a capacity of 0", { capacity: 0 }],
    ["a negative price", { unitPrice: -5 }],
  ])("refuses %s", (_, changes) => {
    given(registered()).when(update(changes)).thenThrows(InvalidCommandError, "invalid-command");
  });
});

describe("WithdrawProduct", () => {
  test("withdraws a product with nothing held", () => {
    given(registered()).when(withdraw).then([withdrawn]);
  });

  test("withdrawing a withdrawn product changes nothing", () => {
    given(registered(), withdrawn).when(withdraw).thenNothing();
  });

  test("is refused while units are held", () => {
    given(registered(), held(R1, 2)).when(withdraw).thenThrows(UnitsInUseError, "units-in-use", { held: 2, inUse: 0 });
  });

  test("a sale product whose units were sold can be withdrawn", () => {
    given(registered(), held(R1, 2), committed(R1, 2)).when(withdraw).then([withdrawn]);
  });

  test("a rental is refused while units are rented out", () => {
    given(rental(), held(R1, 1), committed(R1, 1)).when(withdraw).thenThrows(UnitsInUseError, "units-in-use", { held: 0, inUse: 1 });
  });

  test("a rental can be withdrawn once its units are returned", () => {
    given(rental(), held(R1, 1), committed(R1, 1), committedReleased(R1, 1, "returned"))
      .when(withdraw)
      .then([withdrawn]);
  });

  test("holds that were released do not block withdrawal", () => {
    given(registered(), held(R1, 1), heldReleased(R1, 1)).when(withdraw).then([withdrawn]);
  });
});

describe("HoldUnits", () => {
  test("holds units for a reservation until now + holdTtlSeconds", () => {
    given(registered({ holdTtlSeconds: 60 }))
      .when(hold(R1, 2, T0))
      .then([
        {
          type: "UnitsHeld",
          data: { reservationId: R1, quantity: 2, heldAt: T0, expiresAt: "2025-03-01T09:01:00.000Z" },
        },
      ]);
  });

  test("can hold every remaining unit", () => {
    given(registered(), held(R1, 3))
      .when(hold(R2, 2))
      .then([held(R2, 2)]);
  });

  test("holds at the price the customer agreed to", () => {
    given(registered({ unitPrice: 1000 }))
      .when({ type: "HoldUnits", data: { reservationId: R1, quantity: 2, agreedUnitPrice: 1000, now: T0 } })
      .then([held(R1, 2)]);
  });

  test("refuses when the price changed since the customer saw it, and says both prices", () => {
    given(registered({ unitPrice: 1000 }), updated({ unitPrice: 1_000_000_000 }))
      .when({ type: "HoldUnits", data: { reservationId: R1, quantity: 2, agreedUnitPrice: 1000, now: T0 } })
      .thenThrows(PriceChangedError, "price-changed", { unitPrice: 1_000_000_000, agreedUnitPrice: 1000 });
  });

  test("a retried hold that already succeeded still succeeds after a price change", () => {
    given(registered({ unitPrice: 1000 }), held(R1, 2), updated({ unitPrice: 2000 }))
      .when({ type: "HoldUnits", data: { reservationId: R1, quantity: 2, agreedUnitPrice: 1000, now: T0 } })
      .then([]);
  });

  describe("perCustomerLimit", () => {
    const heldBy = (reservationId: string, quantity: number, customerId: string): ProductEvent => ({
      type: "UnitsHeld",
      data: { reservationId, quantity, customerId, heldAt: T0, expiresAt: "2025-03-01T09:15:00.000Z" },
    });
    const holdFor = (reservationId: string, quantity: number, customerId: string): ProductCommand => ({
      type: "HoldUnits",
      data: { reservationId, quantity, customerId, now: T0 },
    });

    test("a hold records whose it is", () => {
      given(registered({ capacity: 10, perCustomerLimit: 4 }))
        .when(holdFor(R1, 4, "alice"))
        .then([heldBy(R1, 4, "alice")]);
    });

    test("refuses a customer past the limit, counting held and committed units, and says how many they have", () => {
      given(registered({ capacity: 10, perCustomerLimit: 4 }), heldBy(R1, 2, "alice"), committed(R1, 2), heldBy(R2, 1, "alice"))
        .when(holdFor(R3, 2, "alice"))
        .thenThrows(PerCustomerLimitError, "per-customer-limit", { limit: 4, allocated: 3, requested: 2 });
    });

    test("other customers have their own count", () => {
      given(registered({ capacity: 10, perCustomerLimit: 4 }), heldBy(R1, 4, "alice"))
        .when(holdFor(R2, 4, "bob"))
        .then([heldBy(R2, 4, "bob")]);
    });

    test("released units count no more", () => {
      given(
        registered({ capacity: 10, perCustomerLimit: 4 }),
        heldBy(R1, 3, "alice"),
        heldReleased(R1, 3),
        heldBy(R2, 1, "alice"),
        committed(R2, 1),
        committedReleased(R2, 1),
      )
        .when(holdFor(R3, 4, "alice"))
        .then([heldBy(R3, 4, "alice")]);
    });

    test("no limit without perCustomerLimit", () => {
      given(registered({ capacity: 10 }), heldBy(R1, 5, "alice"))
        .when(holdFor(R2, 5, "alice"))
        .then([heldBy(R2, 5, "alice")]);
    });

    test("registration refuses a limit below 1", () => {
      given()
        .when({
          type: "RegisterProduct",
          data: { productId: PRODUCT, sellerId: "seller-1", name: "Seats", capacity: 5, unitPrice: 1, perCustomerLimit: 0, now: T0 },
        })
        .thenThrows(InvalidCommandError, "invalid-command");
    });
  });

  test("refuses more than available and says how many are", () => {
    given(registered(), held(R1, 3))
      .when(hold(R2, 3))
      .thenThrows(InsufficientAvailabilityError, "insufficient-availability", { available: 2, requested: 3 });
  });

  test("committed units are not available either", () => {
    given(registered(), held(R1, 4), committed(R1, 4))
      .when(hold(R2, 2))
      .thenThrows(InsufficientAvailabilityError, "insufficient-availability", { available: 1 });
  });

  test("refuses any quantity when sold out", () => {
    given(registered({ capacity: 1 }), held(R1, 1), committed(R1, 1))
      .when(hold(R2, 1))
      .thenThrows(InsufficientAvailabilityError, "insufficient-availability", { available: 0 });
  });

  test("released units are available again", () => {
    given(registered({ capacity: 1 }), held(R1, 1), heldReleased(R1, 1))
      .when(hold(R2, 1))
      .then([held(R2, 1)]);
    given(registered({ capacity: 1 }), held(R1, 1), committed(R1, 1), committedReleased(R1, 1))
      .when(hold(R2, 1))
      .then([held(R2, 1)]);
  });

  test("a withdrawn product takes no new holds", () => {
    given(registered(), withdrawn).when(hold(R1, 1)).thenThrows(ProductWithdrawnError, "product-withdrawn");
  });

  test("holding again for a reservation that holds is a retry and changes nothing", () => {
    given(registered({ capacity: 2 }), held(R1, 2))
      .when(hold(R1, 2))
      .thenNothing();
  });

  test("a reservation whose units were committed or released is not held again", () => {
    given(registered(), held(R1, 2), committed(R1, 2)).when(hold(R1, 2)).thenNothing();
    given(registered(), held(R1, 2), heldReleased(R1, 2)).when(hold(R1, 2)).thenNothing();
  });

  test.each([0, -1, 1.5])("refuses a quantity of %s", (quantity) => {
    given(registered()).when(hold(R1, quantity)).thenThrows(InvalidCommandError, "invalid-command", {
      field: "quantity",
    });
  });
});

describe("CommitHeldUnits", () => {
  test("commits the units a reservation holds", () => {
    given(registered(), held(R1, 2))
      .when(commit(R1))
      .then([committed(R1, 2)]);
  });

  test("committing again changes nothing", () => {
    given(registered(), held(R1, 2), committed(R1, 2)).when(commit(R1)).thenNothing();
  });

  test("committing for an unknown reservation changes nothing", () => {
    given(registered(), held(R1, 2)).when(commit(R2)).thenNothing();
  });

  test("committing a released hold changes nothing (the units are gone)", () => {
    given(registered(), held(R1, 2), heldReleased(R1, 2)).when(commit(R1)).thenNothing();
  });
});

describe("ReleaseUnits", () => {
  test("releases held units of a reservation that expired or was cancelled before payment", () => {
    given(registered(), held(R1, 2))
      .when(release(R1, "expired"))
      .then([heldReleased(R1, 2, "expired")]);
  });

  test("releases committed units of a cancelled, rejected or returned reservation", () => {
    given(registered(), held(R1, 2), committed(R1, 2))
      .when(release(R1, "rejected"))
      .then([committedReleased(R1, 2, "rejected")]);
    given(rental(), held(R1, 1), committed(R1, 1))
      .when(release(R1, "returned"))
      .then([committedReleased(R1, 1, "returned")]);
  });

  test("releases whatever stage the units are in, so saga messages may arrive in any order", () => {
    given(registered(), held(R1, 2))
      .when(release(R1, "cancelled"))
      .then([heldReleased(R1, 2, "cancelled")]);
  });

  test("releasing again changes nothing", () => {
    given(registered(), held(R1, 2), heldReleased(R1, 2)).when(release(R1)).thenNothing();
    given(registered(), held(R1, 2), committed(R1, 2), committedReleased(R1, 2)).when(release(R1)).thenNothing();
  });

  test("releasing for an unknown reservation changes nothing", () => {
    given(registered(), held(R1, 2)).when(release(R2)).thenNothing();
  });

  test("sold units of a withdrawn product can still be released", () => {
    given(registered(), held(R1, 2), committed(R1, 2), withdrawn)
      .when(release(R1))
      .then([committedReleased(R1, 2)]);
  });
});

describe("evolve", () => {
  test("a registered product has every unit available", () => {
    const p = stateOf(registered());
    expect(p).toMatchObject({ status: "available", capacity: 5, held: 0, committed: 0, available: 5 });
  });

  test("rebuilds held, committed, available and status through a product life", () => {
    const steps: Array<[ProductEvent, Partial<Product>]> = [
      [held(R1, 2), { held: 2, committed: 0, available: 3, status: "available" }],
      [held(R2, 3), { held: 5, committed: 0, available: 0, status: "pending" }],
      [committed(R1, 2), { held: 3, committed: 2, available: 0, status: "pending" }],
      [committed(R2, 3), { held: 0, committed: 5, available: 0, status: "soldout" }],
      [committedReleased(R1, 2), { held: 0, committed: 3, available: 2, status: "available" }],
      [updated({ capacity: 3 }), { capacity: 3, available: 0, status: "soldout" }],
      [held(R3, 1), { held: 1, committed: 3, available: 0, status: "pending" }],
      [heldReleased(R3, 1), { held: 0, available: 0, status: "soldout" }],
      [committedReleased(R2, 3), { committed: 0, available: 3, status: "available" }],
      [withdrawn, { available: 3, status: "withdrawn", withdrawn: true }],
    ];
    const history: ProductEvent[] = [registered()];
    for (const [event, expected] of steps) {
      history.push(event);
      expect(stateOf(...history), event.type).toMatchObject(expected);
    }
  });

  test("available is never negative", () => {
    expect(stateOf(registered(), held(R1, 5), updated({ capacity: 3 })).available).toBe(0);
  });

  test("tracks each reservation allocation", () => {
    const p = stateOf(registered(), held(R1, 1), held(R2, 2), committed(R2, 2), held(R3, 1), heldReleased(R3, 1));
    expect(Object.fromEntries(p.allocations)).toEqual({
      [R1]: { quantity: 1, stage: "held" },
      [R2]: { quantity: 2, stage: "committed" },
      [R3]: { quantity: 1, stage: "released" },
    });
  });

  test("applies updates to name, price and capacity", () => {
    expect(stateOf(registered(), updated({ name: "New", unitPrice: 5 }))).toMatchObject({
      name: "New",
      unitPrice: 5,
      capacity: 5,
      updatedAt: T1,
    });
  });

  test("ignores events before registration", () => {
    expect(fold(productDecider, [held(R1, 1)])).toEqual({ status: "unregistered" });
  });

  test("folds 100,000 reservations in linear time", () => {
    const history: ProductEvent[] = [registered({ capacity: 1_000_000 })];
    for (let i = 0; i < 100_000; i++) {
      const id = `00000000-0000-4000-8000-${i.toString().padStart(12, "0")}`;
      history.push(held(id, 1), committed(id, 1));
    }
    const started = performance.now();
    const p = fold(productDecider, history) as Product;
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(p).toMatchObject({ committed: 100_000, held: 0, available: 900_000 });
    expect(p.allocations.size).toBe(100_000);
  });
});

describe("event schemas", () => {
  const samples: ProductEvent[] = [
    registered({ fulfilmentSteps: ["a", "b"] }),
    updated({ name: "x" }),
    withdrawn,
    held(R1, 1),
    heldReleased(R1, 1, "abandoned"),
    committed(R1, 1),
    committedReleased(R1, 1, "returned"),
  ];

  testRoundTrips(samples, productEventSchemas, parseProductEvent);

  testRejections(samples, parseProductEvent, [
    ["ProductRegistered", "a product id that is not a UUID", { productId: "not-a-uuid" }],
    ["ProductRegistered", "a capacity of 0", { capacity: 0 }],
    ["ProductRegistered", "a fractional price", { unitPrice: 1.5 }],
    ["ProductRegistered", "a lower-case currency", { currency: "krw" }],
    ["ProductRegistered", "an unknown kind", { kind: "lease" }],
    ["ProductRegistered", "duplicate steps", { fulfilmentSteps: ["a", "a"] }],
    ["ProductRegistered", "a time that is not ISO 8601", { registeredAt: "today" }],
    ["ProductRegistered", "an empty seller id", { sellerId: "" }],
    ["ProductUpdated", "no change at all", { name: undefined }],
    ["ProductUpdated", "a negative capacity", { capacity: -1 }],
    ["ProductWithdrawn", "a numeric time", { withdrawnAt: 42 }],
    ["UnitsHeld", "a quantity of 0", { quantity: 0 }],
    ["UnitsHeld", "a missing expiry", { expiresAt: undefined }],
    ["HeldUnitsReleased", "an unknown reason", { reason: "because" }],
    ["HeldUnitsCommitted", "a numeric reservation id", { reservationId: 7 }],
    ["CommittedUnitsReleased", "a quantity as a string", { quantity: "1" }],
  ]);

  test("an unknown event type is rejected", () => {
    expect(() => parseProductEvent("ProductExploded", {})).toThrow(EventSchemaError);
  });

  test("non-object data is rejected", () => {
    expect(() => parseProductEvent("ProductWithdrawn", null)).toThrow(EventSchemaError);
  });
});
