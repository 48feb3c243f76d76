/**
 * Tokens this process has already verified, until they expire. A client sends the same bearer
 * token with every request; verifying its HMAC each time goes through WebCrypto's job queue, which
 * cost about 7% of the API's CPU per request. Keyed by the whole token, signature included, so only
 * the exact string that verified is let through; bounded, oldest first out.
 */
export class VerifiedTokens<T> {
  private readonly entries = new Map<string, { readonly value: T; readonly expiresAtMs: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly clock: () => number = () => Date.now(),
  ) {}

  /** The value remembered for `token`, unless it has expired (then it is forgotten). */
  get(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (this.clock() >= entry.expiresAtMs) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.value;
  }

  remember(token: string, value: T, expiresAtMs: number): void {
    if (this.clock() >= expiresAtMs) return;
    this.entries.delete(token);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(token, { value, expiresAtMs });
  }

  get size(): number {
    return this.entries.size;
  }
}
