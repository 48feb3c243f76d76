import { FORWARDS, START, type EventStoreDBClient } from "@eventstore/db-client";
import { NotYetExpiredError, isPlaced, isProductEventType, isRegistered, parseProductEvent } from "../domain/index.js";
import { productAggregate } from "../application/aggregates.js";
import type { ProductRepository } from "../application/product-service.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import type { CommandMetadata } from "../core/repository.js";
import { idInStream, isStreamOf, streamPrefixOf } from "../core/streams.js";
import type { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import type { Logger } from "../logger.js";
import { reconcileAllocation } from "./reconcile-allocation.js";
import type { ConsumedEvent, Consumer } from "../infrastructure/eventstore/consumer-group.js";
import { SchedulePoller } from "./schedule-poller.js";

const SYSTEM_ACTOR: CommandMetadata["actor"] = { id: "hold-watchdog", role: "system" };

const member = (reservationId: string, productId: string): string => `${reservationId}|${productId}`;

const parseMember = (value: string): { reservationId: string; productId: string } | undefined => {
  const [reservationId, productId] = value.split("|");
  return reservationId && productId ? { reservationId, productId } : undefined;
};

/**
 * Puts every hold's deadline into the durable schedule. Driven by `UnitsHeld` rather than by the
 * reservation, so that a hold whose reservation was never recorded is still looked after.
 */
export const holdDeadlineConsumer = (schedule: DeadlineSchedule): Consumer => ({
  group: "hold-deadlines",
  streamPrefixes: [streamPrefixOf(productAggregate)],
  handle: async (event: ConsumedEvent) => {
    if (event.type !== "UnitsHeld") return;
    const held = parseProductEvent(event.type, event.data);
    if (held.type !== "UnitsHeld") return;
    const productId = idInStream(productAggregate, event.streamId);
    await schedule.add(member(held.data.reservationId, productId), new Date(held.data.expiresAt));
  },
});

/**
 * Rebuilds the schedule from the log: every hold that is still held gets its deadline back. Run when
 * the schedule is not known to be complete (first start, or Redis lost its data); idempotent.
 */
export const restoreHoldDeadlines = async (client: EventStoreDBClient, schedule: DeadlineSchedule): Promise<number> => {
  const open = new Map<string, string>();
  for await (const resolved of client.readAll({ direction: FORWARDS, fromPosition: START })) {
    const recorded = resolved.event;
    if (!recorded || !isStreamOf(productAggregate, recorded.streamId) || !isProductEventType(recorded.type)) continue;
    const event = parseProductEvent(recorded.type, recorded.data);
    const productId = idInStream(productAggregate, recorded.streamId);
    if (event.type === "UnitsHeld") open.set(member(event.data.reservationId, productId), event.data.expiresAt);
    if (event.type === "HeldUnitsReleased" || event.type === "HeldUnitsCommitted") {
      open.delete(member(event.data.reservationId, productId));
    }
  }
  for (const [entry, expiresAt] of open) await schedule.add(entry, new Date(expiresAt));
  return open.size;
};

export interface HoldExpiryDependencies {
  readonly schedule: DeadlineSchedule;
  /** Fills the schedule from the log when it is not known to be complete. */
  readonly restore?: () => Promise<number>;
  readonly products: ProductRepository;
  readonly reservations: ReservationRepository;
  readonly logger: Logger;
  readonly clock?: () => Date;
  readonly intervalMs?: number;
  /** Says what a failed poll ran into (e.g. "Redis at host:port unreachable"); the error's message by default. */
  readonly describeFailure?: (error: unknown) => string;
  /**
   * False while the schedule may hold another event store's deadlines (see read-model-ownership.ts):
   * acting on one would write to this store about a reservation it never had.
   */
  readonly ready?: () => boolean;
  /** How long repeats of one failure are counted before a summary line; default one minute. */
  readonly repeatedWarningWindowMs?: number;
}

/**
 * Works the schedule: a reservation still `placed` at its deadline expires (the saga then releases
 * its units and voids its payment); a hold whose reservation never got recorded — its placing
 * process died between the two writes — is abandoned and its units released.
 */
export class HoldExpiryPoller {
  private readonly clock: () => Date;
  private readonly poller: SchedulePoller;

  constructor(private readonly deps: HoldExpiryDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.poller = new SchedulePoller({
      schedule: deps.schedule,
      work: async (entry) => {
        const parsed = parseMember(entry);
        return parsed ? this.settle(parsed.reservationId, parsed.productId) : undefined;
      },
      beforePass: () => this.restoreIfNeeded(),
      ...(deps.ready ? { ready: deps.ready } : {}),
      ...(deps.describeFailure ? { describeFailure: deps.describeFailure } : {}),
      ...(deps.repeatedWarningWindowMs === undefined ? {} : { repeatedWarningWindowMs: deps.repeatedWarningWindowMs }),
      logger: deps.logger,
      what: "hold expiry",
      clock: this.clock,
      ...(deps.intervalMs === undefined ? {} : { intervalMs: deps.intervalMs }),
    });
  }

  start(): void {
    this.poller.start();
  }

  stop(): Promise<void> {
    return this.poller.stop();
  }

  /** One pass over what is due; returns how many entries were settled. */
  tick(): Promise<number> {
    return this.poller.tick();
  }

  private async restoreIfNeeded(): Promise<void> {
    if (!this.deps.restore || (await this.deps.schedule.isRestored())) return;
    const restored = await this.deps.restore();
    await this.deps.schedule.markRestored();
    this.deps.logger.info({ holds: restored }, "restored the hold deadlines from the event log");
  }

  /** Returns a new deadline when it is not time yet. */
  private async settle(reservationId: string, productId: string): Promise<Date | undefined> {
    const now = this.clock().toISOString();
    const metadata: CommandMetadata = { correlationId: reservationId, causationId: `hold-expiry:${reservationId}`, actor: SYSTEM_ACTOR };
    const { state } = await this.deps.reservations.load(reservationId);
    if (isPlaced(state) && state.productId === productId) {
      if (state.status !== "placed") {
        // The saga normally released or committed its units already, but a hold must end whatever
        // happened to the saga's events, so look once more.
        await reconcileAllocation(this.deps.products, state, () => this.clock().toISOString(), metadata);
        return undefined;
      }
      try {
        await this.deps.reservations.handle(reservationId, () => ({ type: "ExpireReservation", data: { now } }), metadata);
        return undefined;
      } catch (error) {
        if (error instanceof NotYetExpiredError) return new Date(state.expiresAt);
        throw error;
      }
    }
    // Only a hold this store really has needs healing (a schedule entry may outlive its data).
    const { state: product } = await this.deps.products.load(productId);
    const allocation = isRegistered(product) ? product.allocations.get(reservationId) : undefined;
    if (!allocation || allocation.stage === "released") return undefined;
    if (isPlaced(state)) {
      // The reservation was placed on another product: this hold lost a race between two requests
      // with one Idempotency-Key (and its request died before giving it back). Nothing can ever
      // claim it, since a reservation's product never changes.
      await this.release(productId, reservationId, metadata, now);
      this.deps.logger.warn(
        { reservationId, productId, placedOn: state.productId },
        "released a hold whose reservation was placed on another product",
      );
      return undefined;
    }
    // Close the reservation stream first, so that a placement still in flight cannot complete.
    const closed = await this.deps.reservations.handle(
      reservationId,
      () => ({ type: "AbandonReservation", data: { reservationId, productId, now } }),
      metadata,
    );
    if (isPlaced(closed.state)) return this.settle(reservationId, productId);
    await this.release(productId, reservationId, metadata, now);
    this.deps.logger.warn({ reservationId, productId }, "released the hold of a reservation that was never recorded");
    return undefined;
  }

  private async release(productId: string, reservationId: string, metadata: CommandMetadata, now: string): Promise<void> {
    await this.deps.products.handle(
      productId,
      () => ({ type: "ReleaseUnits", data: { reservationId, reason: "abandoned", now } }),
      metadata,
    );
  }
}
