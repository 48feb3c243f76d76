/**
 * Plumbing for the repository suite: the embedded EventStoreDB in this process (in memory), the
 * real client, and a view of the client that counts the calls the repository makes, so that tests
 * can say "one append, no read" without looking at timings.
 */
import { randomUUID } from "node:crypto";
import { EventStoreDBClient, FORWARDS, StreamNotFoundError } from "@eventstore/db-client";
import { productAggregate } from "../../src/application/aggregates.js";
import { isRegistered, type ProductCommand, type ProductEvent, type ProductState } from "../../src/domain/index.js";
import { useEmbeddedStore } from "../support/embedded-store.js";
import {
  AggregateRepository,
  type RepositoryOptions,
  type StreamClient,
} from "../../src/infrastructure/eventstore/aggregate-repository.js";
import type { CommandMetadata } from "../../src/core/repository.js";

export interface CallCounts {
  appends: number;
  reads: number;
}

/** The client, with every `appendToStream` and `readStream` counted in `counts`. */
export const countingClient = (client: EventStoreDBClient): { client: StreamClient; counts: CallCounts } => {
  const counts: CallCounts = { appends: 0, reads: 0 };
  const counted: StreamClient = {
    appendToStream: (...args: Parameters<StreamClient["appendToStream"]>) => {
      counts.appends += 1;
      return client.appendToStream(...args);
    },
    readStream: (...args: Parameters<StreamClient["readStream"]>) => {
      counts.reads += 1;
      return client.readStream(...args);
    },
  };
  return { client: counted, counts };
};

export interface StoreContext {
  readonly client: EventStoreDBClient;
}

/** Starts the embedded server for the file and disposes of it afterwards. */
export const useStore = (): (() => StoreContext) => {
  let client: EventStoreDBClient | undefined;
  useEmbeddedStore((started) => ({ client } = started));
  return () => {
    if (!client) throw new Error("the store is not started yet");
    return { client };
  };
};

export type ProductRepository = AggregateRepository<ProductCommand, ProductEvent, ProductState>;

/** A product repository over a counting view of `client`. */
export const productRepository = (
  client: EventStoreDBClient,
  options: RepositoryOptions = {},
): { repository: ProductRepository; counts: CallCounts } => {
  const counting = countingClient(client);
  return { repository: new AggregateRepository(counting.client, productAggregate, options), counts: counting.counts };
};

/** A product of `capacity`, registered through a fresh counting repository. */
export const registeredProduct = async (client: EventStoreDBClient, capacity: number, options: RepositoryOptions = {}) => {
  const { repository, counts } = productRepository(client, options);
  const productId = randomUUID();
  await repository.handle(productId, registerCommand(productId, capacity), metadata());
  return { repository, counts, productId };
};

/**
 * Two repositories (two processes) over one product of `capacity` that `a` registered: `a`'s
 * cache goes stale as soon as `b` writes.
 */
export const twoRepositories = async (client: EventStoreDBClient, capacity: number) => {
  const a = productRepository(client);
  const b = productRepository(client);
  const productId = randomUUID();
  await a.repository.handle(productId, registerCommand(productId, capacity), metadata());
  return { a, b, productId };
};

/** The state of a registered product; anything else fails the test. */
export const product = (state: ProductState) => {
  if (!isRegistered(state)) throw new Error("the product is not registered");
  return state;
};

export const metadata = (causationId: string = randomUUID()): CommandMetadata => ({
  correlationId: randomUUID(),
  causationId,
  actor: { id: "repository-test", role: "system" },
});

export const now = (): string => new Date().toISOString();

export const registerCommand = (productId: string, capacity: number) => (): ProductCommand => ({
  type: "RegisterProduct",
  data: { productId, sellerId: "seller-1", name: "test product", capacity, unitPrice: 100, now: now() },
});

export const holdCommand =
  (reservationId: string, quantity = 1) =>
  (): ProductCommand => ({
    type: "HoldUnits",
    data: { reservationId, quantity, now: now() },
  });

/** What the stream really holds: event types and ids, read straight from the store. */
export const recorded = async (client: EventStoreDBClient, streamId: string): Promise<{ type: string; id: string; data: unknown }[]> => {
  const events: { type: string; id: string; data: unknown }[] = [];
  try {
    for await (const resolved of client.readStream(streamId, { direction: FORWARDS, fromRevision: 0n })) {
      if (resolved.event) events.push({ type: resolved.event.type, id: resolved.event.id, data: resolved.event.data });
    }
  } catch (error) {
    if (!(error instanceof StreamNotFoundError)) throw error;
  }
  return events;
};

/** Settles every promise and sorts the outcomes into answers and errors, in the original order. */
export const settleAll = async <T>(promises: readonly Promise<T>[]): Promise<({ ok: true; value: T } | { ok: false; error: unknown })[]> =>
  (await Promise.allSettled(promises)).map((outcome) =>
    outcome.status === "fulfilled" ? { ok: true as const, value: outcome.value } : { ok: false as const, error: outcome.reason as unknown },
  );
