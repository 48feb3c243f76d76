import { describe, expect, it } from "vitest";
import type { z } from "zod";
import {
  IdParams,
  PlaceReservationBody,
  ProgressReservationBody,
  RegisterProductBody,
  RejectReservationBody,
  UpdateProductBody,
} from "../../src/http/schemas.js";

const valid = { name: "Seat", capacity: 1, unitPrice: 0 };
const ok = (schema: z.ZodType, value: unknown) => schema.safeParse(value).success;

describe("request schemas keep API.md's limits", () => {
  it.each([
    [{ name: "" }, false],
    [{ name: "n".repeat(200) }, true],
    [{ name: "n".repeat(201) }, false],
    [{ capacity: 0 }, false],
    [{ capacity: 1_000_000 }, true],
    [{ capacity: 1_000_001 }, false],
    [{ capacity: 1.5 }, false],
    [{ capacity: "3" }, false],
    [{ unitPrice: -1 }, false],
    [{ unitPrice: 1_000_000_000 }, true],
    [{ unitPrice: 1_000_000_001 }, false],
    [{ currency: "USD" }, true],
    [{ currency: "usd" }, false],
    [{ currency: "EURO" }, false],
    [{ kind: "rental" }, true],
    [{ kind: "lease" }, false],
    [{ sellerAcceptance: "yes" }, false],
    [{ fulfilmentSteps: ["a", "b"] }, true],
    [{ fulfilmentSteps: ["a", "a"] }, false],
    [{ fulfilmentSteps: [""] }, false],
    [{ fulfilmentSteps: ["s".repeat(40)] }, true],
    [{ fulfilmentSteps: ["s".repeat(41)] }, false],
    [{ fulfilmentSteps: Array.from({ length: 10 }, (_, i) => `s${i}`) }, true],
    [{ fulfilmentSteps: Array.from({ length: 11 }, (_, i) => `s${i}`) }, false],
    [{ holdTtlSeconds: 9 }, false],
    [{ holdTtlSeconds: 10 }, true],
    [{ holdTtlSeconds: 86_400 }, true],
    [{ holdTtlSeconds: 86_401 }, false],
    [{ owner: "me" }, false],
  ])("RegisterProduct with %j: %s", (change, expected) => {
    expect(ok(RegisterProductBody, { ...valid, ...change })).toBe(expected);
  });

  it("UpdateProduct takes any subset of name, capacity, unitPrice and nothing else", () => {
    expect(ok(UpdateProductBody, {})).toBe(true);
    expect(ok(UpdateProductBody, { capacity: 3 })).toBe(true);
    expect(ok(UpdateProductBody, { kind: "rental" })).toBe(false);
    expect(ok(UpdateProductBody, { capacity: 0 })).toBe(false);
  });

  it.each([
    [{ quantity: 0 }, false],
    [{ quantity: 10_000 }, true],
    [{ quantity: 10_001 }, false],
    [{ paymentToken: "" }, false],
    [{ paymentToken: "t".repeat(200) }, true],
    [{ paymentToken: "t".repeat(201) }, false],
    [{ productId: "not-a-uuid" }, false],
  ])("PlaceReservation with %j: %s", (change, expected) => {
    expect(ok(PlaceReservationBody, { productId: "0b4c2f4e-5c1a-4a57-9d9c-3c3f2f6b2a10", quantity: 1, ...change })).toBe(expected);
  });

  it("limits reasons, steps and ids", () => {
    expect(ok(RejectReservationBody, { reason: "r".repeat(500) })).toBe(true);
    expect(ok(RejectReservationBody, { reason: "r".repeat(501) })).toBe(false);
    expect(ok(ProgressReservationBody, { step: "" })).toBe(false);
    expect(ok(ProgressReservationBody, { step: "s".repeat(40) })).toBe(true);
    expect(ok(IdParams, { id: "0B4C2F4E-5C1A-4A57-9D9C-3C3F2F6B2A10" })).toBe(true);
    expect(ok(IdParams, { id: "0b4c2f4e5c1a4a579d9c3c3f2f6b2a10" })).toBe(false);
  });
});
