/**
 * Reservation ids derived from an Idempotency-Key are keyed with a server secret: stable for the
 * same (user, key) wherever they are computed, different per user and per key, and impossible to
 * compute from the key alone (without the secret), so knowing a key does not find its reservation.
 */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { idFromIdempotencyKey, keyedIdempotencyIds } from "../../src/core/event-ids.js";

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("keyedIdempotencyIds", () => {
  const ids = keyedIdempotencyIds("a-server-secret-of-some-length");

  it("gives the same RFC 9562 version 8 UUID for the same user and key, in any instance", () => {
    const id = ids("alice", "key-1");
    expect(id).toMatch(UUID_V8);
    expect(z.uuid().safeParse(id).success).toBe(true);
    expect(keyedIdempotencyIds("a-server-secret-of-some-length")("alice", "key-1")).toBe(id);
  });

  it("differs per user, per key, and per secret; and from the unkeyed derivation", () => {
    const id = ids("alice", "key-1");
    expect(ids("bob", "key-1")).not.toBe(id);
    expect(ids("alice", "key-2")).not.toBe(id);
    expect(keyedIdempotencyIds("another-server-secret")("alice", "key-1")).not.toBe(id);
    expect(idFromIdempotencyKey("alice", "key-1")).not.toBe(id);
    // No ambiguity between a user id with a newline and a key.
    expect(ids("alice\nkey", "1")).not.toBe(ids("alice", "key\n1"));
  });

  it("refuses an empty secret", () => {
    expect(() => keyedIdempotencyIds("")).toThrow();
  });
});
