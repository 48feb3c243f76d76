import { randomUUID } from "node:crypto";
import { NO_STREAM, StreamNotFoundError, WrongExpectedVersionError, jsonEvent, type EventStoreDBClient } from "@eventstore/db-client";

/**
 * Where an event store says which store it is: one event, written once by whichever process of the
 * deployment asks first. Not a `$` stream, so that no ACL of a secured EventStoreDB stands in the way;
 * no consumer group's stream prefix matches it.
 */
export const STORE_IDENTITY_STREAM = "store-identity";
const STORE_IDENTIFIED = "StoreIdentified";

const readStoreId = async (client: EventStoreDBClient): Promise<string | undefined> => {
  let storeId: string | undefined;
  try {
    // Read to the end (one event), never left early: an abandoned read keeps its call open and the
    // client's dispose() waits for it for ever (a stop that hangs).
    for await (const resolved of client.readStream(STORE_IDENTITY_STREAM, { maxCount: 1 })) {
      const data = resolved.event?.data as { storeId?: unknown } | undefined;
      if (typeof data?.storeId === "string") storeId ??= data.storeId;
    }
  } catch (error) {
    if (error instanceof StreamNotFoundError) return undefined;
    throw error;
  }
  return storeId;
};

/** This event store's id: read, or written once (`NO_STREAM`, so two processes racing agree on the first). */
export const readOrCreateStoreId = async (client: EventStoreDBClient): Promise<string> => {
  const existing = await readStoreId(client);
  if (existing !== undefined) return existing;
  const storeId = randomUUID();
  try {
    await client.appendToStream(STORE_IDENTITY_STREAM, jsonEvent({ type: STORE_IDENTIFIED, data: { storeId } }), {
      expectedRevision: NO_STREAM,
    });
    return storeId;
  } catch (error) {
    if (!(error instanceof WrongExpectedVersionError)) throw error;
    const winner = await readStoreId(client);
    if (winner === undefined) throw error;
    return winner;
  }
};
