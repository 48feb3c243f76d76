import type { Redis } from "ioredis";
import { ServiceUnavailableError } from "../core/errors.js";
import type { PaymentTokenStore } from "../application/payment-token-store.js";

/**
 * Payment tokens in Redis, each under a key that expires with its hold: a token nobody used is gone
 * at the hold's deadline without anyone deleting it, and nothing of it stays in the event log.
 */
export class RedisPaymentTokenStore implements PaymentTokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly keyRoot: string,
  ) {}

  keyOf(reservationId: string): string {
    return `${this.keyRoot}:payment-token:${reservationId}`;
  }

  async store(reservationId: string, token: string, ttlSeconds: number): Promise<void> {
    try {
      await this.redis.set(this.keyOf(reservationId), token, "EX", Math.max(1, Math.ceil(ttlSeconds)));
    } catch (error) {
      // Refused before the reservation exists: the customer can place without a token and pay later.
      throw new ServiceUnavailableError(
        `the payment token cannot be kept right now (${error instanceof Error ? error.message : String(error)})`,
        5,
      );
    }
  }

  async read(reservationId: string): Promise<string | undefined> {
    return (await this.redis.get(this.keyOf(reservationId))) ?? undefined;
  }

  async discard(reservationId: string): Promise<void> {
    await this.redis.del(this.keyOf(reservationId));
  }
}
