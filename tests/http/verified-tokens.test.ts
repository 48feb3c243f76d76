import { describe, expect, it } from "vitest";
import { VerifiedTokens } from "../../src/http/verified-tokens.js";

describe("VerifiedTokens", () => {
  it("remembers a token until its expiry, then forgets it", () => {
    let now = 1_000;
    const tokens = new VerifiedTokens<string>(10, () => now);
    tokens.remember("a.b.c", "alice", 2_000);
    expect(tokens.get("a.b.c")).toBe("alice");
    now = 1_999;
    expect(tokens.get("a.b.c")).toBe("alice");
    now = 2_000;
    expect(tokens.get("a.b.c")).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it("does not remember a token that has already expired", () => {
    const tokens = new VerifiedTokens<string>(10, () => 5_000);
    tokens.remember("a.b.c", "alice", 5_000);
    expect(tokens.get("a.b.c")).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it("keeps at most maxEntries, dropping the oldest first", () => {
    const tokens = new VerifiedTokens<number>(2, () => 0);
    tokens.remember("t1", 1, 10);
    tokens.remember("t2", 2, 10);
    tokens.remember("t3", 3, 10);
    expect(tokens.size).toBe(2);
    expect(tokens.get("t1")).toBeUndefined();
    expect([tokens.get("t2"), tokens.get("t3")]).toEqual([2, 3]);
  });
});
