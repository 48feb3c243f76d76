import { createHmac } from "node:crypto";
import { parse as parseUuid, v5 as uuidv5 } from "uuid";

/** Namespace of every name-based id this service derives, parsed once rather than on every id. */
const NAMESPACE = parseUuid("5b0f6a53-3c1e-4cf4-9d55-3f2c7a2b9c41");

/**
 * Event ids derived from what caused them: a handler that runs twice for the same cause writes
 * the same ids, which EventStoreDB recognises as an idempotent retry instead of new events.
 */
export const deterministicEventId = (causationId: string, streamId: string, index: number): string =>
  uuidv5(`event\n${causationId}\n${streamId}\n${index}`, NAMESPACE);

/**
 * An internal id derived from a client's idempotency key, scoped to the user who sent it (attempt
 * ids of a payment). Not for ids a client can look up: those use `keyedIdempotencyIds`.
 */
export const idFromIdempotencyKey = (userId: string, key: string): string => uuidv5(`idempotency\n${userId}\n${key}`, NAMESPACE);

/** Derives a reservation id from a user and the Idempotency-Key they sent. */
export type IdempotencyIds = (userId: string, idempotencyKey: string) => string;

/**
 * Resource ids derived from (user, Idempotency-Key) with an HMAC keyed by a server secret: the same
 * on every process and across restarts while the secret stays, but nobody who learns or guesses a
 * client's key can compute the id it names (ids derived without a key could be looked up from it).
 * The 128 bits are laid out as an RFC 9562 version 8 (custom) UUID.
 */
export const keyedIdempotencyIds = (secret: string): IdempotencyIds => {
  if (secret.length === 0) throw new Error("keyedIdempotencyIds needs a secret");
  return (userId, idempotencyKey) => {
    const bytes = createHmac("sha256", secret)
      .update(`idempotency\n${userId.length}:${userId}\n${idempotencyKey}`)
      .digest()
      .subarray(0, 16);
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    const hex = bytes.toString("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  };
};
