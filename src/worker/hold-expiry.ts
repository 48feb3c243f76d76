import { RepeatedWarnings } from "../repeated-warnings.js";
import { FORWARDS, START, type EventStoreDBClient } from "@eventstore/db-client";
import { NotYetExpiredError, isPlaced, isProductEventType, isRegistered, parseProductEvent } from "../domain/index.js";
import type { ProductRepository } from "../application/product-service.js";
import type { ReservationRepository } from "../application/reservation-service.js";
import type { CommandMetadata } from "../infrastructure/eventstore/aggregate-repository.js";
import type { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import type { Logger } from "../logger.js";
import { reconcileAllocation } from "./reconcile-allocation.js";
import type { ConsumedEvent, Consumer } from "./consumer-group.js";

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
  streamPrefixes: ["product-"],
  handle: async (event: ConsumedEvent) => {
    if (event.type !== "UnitsHeld") return;
    const held = parseProductEvent(event.type, event.data);
    if (held.type !== "UnitsHeld") return;
    const productId = event.streamId.slice("product-".length);
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
    if (!recorded || !recorded.streamId.startsWith("product-") || !isProductEventType(recorded.type)) continue;
    const event = parseProductEvent(recorded.type, recorded.data);
    const productId = recorded.streamId.slice("product-".length);
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
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly clock: () => Date;

  private readonly warnings: RepeatedWarnings;

  constructor(private readonly deps: HoldExpiryDependencies) {
    this.clock = deps.clock ?? (() => new Date());
    this.warnings = new RepeatedWarnings(deps.logger, deps.repeatedWarningWindowMs);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((error: unknown) => {
          const cause = this.deps.describeFailure?.(error) ?? (error instanceof Error ? error.message : String(error));
          // Polled every second: an outage is one line and a count, not a line a second.
          this.warnings.warn({ cause }, `hold expiry poll failed: ${cause}; will retry`);
        })
        .finally(() => {
          this.running = undefined;
        });
    }, this.deps.intervalMs ?? 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    this.warnings.flush();
  }

  /** One pass over what is due; returns how many entries were settled. */
  async tick(): Promise<number> {
    if (this.deps.ready && !this.deps.ready()) return 0;
    if (this.deps.restore && !(await this.deps.schedule.isRestored())) {
      const restored = await this.deps.restore();
      await this.deps.schedule.markRestored();
      this.deps.logger.info({ holds: restored }, "restored the hold deadlines from the event log");
    }
    const due = await this.deps.schedule.takeDue(this.clock());
    let settled = 0;
    for (const entry of due) {
      const parsed = parseMember(entry);
      if (!parsed) {
        await this.deps.schedule.complete(entry);
        continue;
      }
      try {
        const reschedule = await this.settle(parsed.reservationId, parsed.productId);
        if (reschedule) await this.deps.schedule.add(entry, reschedule);
        else await this.deps.schedule.complete(entry);
        settled += 1;
      } catch (error) {
        // The lease runs out and the entry comes back: nothing is lost by leaving it.
        this.deps.logger.warn({ err: String(error), reservationId: parsed.reservationId }, "could not settle an expired hold yet");
      }
    }
    return settled;
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
      this.deps.logger.warn({ reservationId, productId, placedOn: state.productId }, "released a hold whose reservation was placed on another product");
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
    await this.deps.products.handle(productId, () => ({ type: "ReleaseUnits", data: { reservationId, reason: "abandoned", now } }), metadata);
  }
}
