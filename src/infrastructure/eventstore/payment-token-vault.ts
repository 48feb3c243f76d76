import { BACKWARDS, END, type EventStoreDBClient, StreamNotFoundError, jsonEvent } from "@eventstore/db-client";

/**
 * Holds the payment token a customer gave when placing a reservation until the saga charges it.
 * Tokens are secrets: they never enter the aggregates' streams. Each lives in its own stream
 * `paymenttoken-<reservationId>` whose `$maxAge` makes it unreadable once the hold has expired, and
 * which is deleted as soon as the token has been used.
 */
export class PaymentTokenVault {
  constructor(private readonly client: EventStoreDBClient) {}

  private streamOf(reservationId: string): string {
    return `paymenttoken-${reservationId}`;
  }

  async store(reservationId: string, token: string, ttlSeconds: number): Promise<void> {
    const stream = this.streamOf(reservationId);
    // Metadata first: the token is never readable without its expiry.
    await this.client.setStreamMetadata(stream, { maxAge: ttlSeconds });
    await this.client.appendToStream(stream, jsonEvent({ type: "PaymentTokenProvided", data: { token } }));
  }

  async read(reservationId: string): Promise<string | undefined> {
    let token: string | undefined;
    try {
      // Read to the end (one event): a client read left early never completes and blocks dispose().
      for await (const resolved of this.client.readStream(this.streamOf(reservationId), {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      })) {
        const data = resolved.event?.data;
        if (data && typeof data === "object" && "token" in data && typeof data.token === "string") token ??= data.token;
      }
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
    return token;
  }

  async discard(reservationId: string): Promise<void> {
    try {
      await this.client.deleteStream(this.streamOf(reservationId));
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
    }
  }
}
