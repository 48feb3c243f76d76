/**
 * The crash test's invariants, checked from the event log alone (plus the My Page read model).
 *
 * `readEventLog` reads `$all` forwards through `@eventstore/db-client`; `buildModel` folds every
 * `product-`, `reservation-`, `payment-` and `notification-` stream with the domain's own parsers and
 * deciders; `checkInvariants` returns every violation with enough detail to debug it. They are meant
 * to run once the system is quiet (see harness.ts): nothing is in flight then, so every saga step
 * that an event calls for must have happened.
 *
 * Definitions:
 * - **Units.** Per product, `held + committed` (the product stream folded) must equal what its live
 *   reservations account for: the quantities of its reservations that are `placed` or
 *   `awaiting-acceptance`, `confirmed`, `in-progress`, `in-use`, or `completed` (sale only; a returned
 *   rental gave its units back), plus holds whose reservation was never recorded and whose hold
 *   deadline has not passed yet (the hold watchdog abandons those only at `expiresAt`). And
 *   `0 ≤ held`, `0 ≤ committed`, `held + committed ≤ capacity` after *every* event of the product.
 *   Finer, per reservation: `placed` holds its units, the paid statuses have them committed, ended
 *   reservations (cancelled, expired, rejected, abandoned, returned rental) released them with the
 *   matching reason.
 * - **Charges.** `PaymentSucceeded` per payment: at most one ever; exactly one for every reservation
 *   that was paid (settled, or whose payment is paid or refunded).
 * - **Refunds.** `PaymentRefunded` per payment: at most one ever; exactly one for every cancelled,
 *   rejected or expired reservation that was charged; none while a reservation is live. An ended
 *   reservation that was never charged has its payment voided (exactly once).
 * - **Notifications.** The expected notifications of a reservation are derived from its streams'
 *   events by the rules in projections/README.md ("Kinds"), independently of the notifier's code;
 *   each expected (causing event, kind) must be recorded exactly once as `NotificationRecorded` in
 *   `notification-<reservationId>`, and nothing else may be recorded. Each recorded notification
 *   has exactly one delivery outcome per channel.
 * - **My Page** (`checkMyPage`): every customer's `GET /my-page` lists exactly their reservations with
 *   the statuses the log says, and equals what a fresh `rebuildProjections(["mypage"])` produces.
 */
import { BACKWARDS, END, type EventStoreDBClient, FORWARDS, START } from "@eventstore/db-client";
import {
  type PaymentEvent,
  type PaymentState,
  type Product,
  type ProductEvent,
  type ProductState,
  type Reservation,
  type ReservationEvent,
  type ReservationState,
  type ReservationStatus,
  evolvePayment,
  evolveProduct,
  evolveReservation,
  initialPaymentState,
  initialProductState,
  initialReservationState,
  isPlaced,
  isRegistered,
  isRequested,
  parsePaymentEvent,
  parseProductEvent,
  parseReservationEvent,
} from "../../src/domain/index.js";
import type { ReleaseReason } from "../../src/domain/product/events.js";
import { type NotificationEvent, type NotificationRecorded, parseNotificationEvent } from "../../src/domain/notification/events.js";

// ---------------------------------------------------------------------------------------------
// Reading the log

export interface LoggedEvent {
  readonly streamId: string;
  readonly revision: number;
  readonly eventId: string;
  readonly type: string;
  readonly data: unknown;
  readonly position: bigint;
  readonly created: Date;
}

export interface EventLog {
  /** Commit position of the last event read. */
  readonly head: bigint;
  /** Every event read from `$all`, system events included. */
  readonly total: number;
  /** Events of the four categories, per stream, in order. */
  readonly streams: ReadonlyMap<string, readonly LoggedEvent[]>;
  /** Event counts per type (categories of interest only). */
  readonly typeCounts: Readonly<Record<string, number>>;
  /** Events anywhere in `$all` (system streams included) whose data or metadata holds a payment token. */
  readonly tokenLeaks: readonly string[];
}

/** The simulated provider's tokens, the only secrets the workload sends. */
const PAYMENT_TOKEN = /tok_(?:ok|declined|unavailable)/;

const holdsPaymentToken = (value: unknown): boolean =>
  value instanceof Uint8Array ? PAYMENT_TOKEN.test(Buffer.from(value).toString("utf8")) : PAYMENT_TOKEN.test(JSON.stringify(value) ?? "");

const CATEGORIES = ["product-", "reservation-", "payment-", "notification-"] as const;

export const readEventLog = async (client: EventStoreDBClient): Promise<EventLog> => {
  const streams = new Map<string, LoggedEvent[]>();
  const typeCounts: Record<string, number> = {};
  let head = 0n;
  let total = 0;
  const tokenLeaks: string[] = [];
  for await (const resolved of client.readAll({ direction: FORWARDS, fromPosition: START })) {
    const recorded = resolved.event;
    if (!recorded) continue;
    total += 1;
    if (holdsPaymentToken(recorded.data) || holdsPaymentToken(recorded.metadata)) {
      tokenLeaks.push(`${recorded.streamId}@${recorded.revision} ${recorded.type}`);
    }
    head = recorded.position?.commit ?? head;
    if (recorded.streamId.startsWith("$") || recorded.type.startsWith("$")) continue;
    if (!CATEGORIES.some((prefix) => recorded.streamId.startsWith(prefix))) continue;
    const event: LoggedEvent = {
      streamId: recorded.streamId,
      revision: Number(recorded.revision),
      eventId: recorded.id,
      type: recorded.type,
      data: recorded.data,
      position: recorded.position?.commit ?? 0n,
      created: recorded.created,
    };
    const list = streams.get(recorded.streamId);
    if (list) list.push(event);
    else streams.set(recorded.streamId, [event]);
    typeCounts[recorded.type] = (typeCounts[recorded.type] ?? 0) + 1;
  }
  return { head, total, streams, typeCounts, tokenLeaks };
};

/** The commit position of the last event in `$all` (read to its end: an abandoned read keeps its call open). */
export const headPosition = async (client: EventStoreDBClient): Promise<bigint> => {
  let head = 0n;
  for await (const resolved of client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 })) {
    head = resolved.event?.position?.commit ?? head;
  }
  return head;
};

// ---------------------------------------------------------------------------------------------
// Folding it

export type InvariantName =
  | "log.malformed-event"
  | "units.capacity"
  | "units.accounting"
  | "units.allocation"
  | "units.orphan-hold"
  | "payment.missing"
  | "payment.orphan"
  | "payment.amount"
  | "payment.charges"
  | "payment.not-settled"
  | "payment.refunds"
  | "payment.voids"
  | "reservation.expiry-missed"
  | "notifications.missing"
  | "notifications.duplicate"
  | "notifications.unexpected"
  | "notifications.delivery"
  | "mypage.stale"
  | "mypage.rebuild-differs"
  | "mypage.unavailable"
  | "http.server-error"
  | "http.unexpected-status"
  | "system.not-quiet"
  | "system.parked-messages"
  | "system.unexpected-exit"
  | "system.log-changed-during-checks"
  | "tokens.retained"
  | "tokens.in-log";

export interface Violation {
  readonly invariant: InvariantName;
  /** What it is about: `product-<id>`, `reservation-<id>`, a customer … */
  readonly subject: string;
  readonly message: string;
  readonly detail?: unknown;
}

interface Identified<E> {
  readonly event: E;
  readonly eventId: string;
  readonly revision: number;
  readonly created: Date;
}

export interface ProductModel {
  readonly productId: string;
  readonly state: ProductState;
  readonly events: readonly Identified<ProductEvent>[];
  /** Per reservation: its hold (quantity, deadline) and every release (reason). */
  readonly holds: ReadonlyMap<string, { readonly quantity: number; readonly expiresAt: string }>;
  readonly releases: ReadonlyMap<string, readonly ReleaseReason[]>;
  readonly commits: ReadonlyMap<string, number>;
}

export interface ReservationModel {
  readonly reservationId: string;
  readonly state: ReservationState;
  readonly events: readonly Identified<ReservationEvent>[];
}

export interface PaymentModel {
  readonly paymentId: string;
  readonly state: PaymentState;
  readonly events: readonly Identified<PaymentEvent>[];
}

export interface NotificationStreamModel {
  readonly reservationId: string;
  readonly events: readonly Identified<NotificationEvent>[];
}

export interface Model {
  readonly products: ReadonlyMap<string, ProductModel>;
  readonly reservations: ReadonlyMap<string, ReservationModel>;
  readonly payments: ReadonlyMap<string, PaymentModel>;
  readonly notifications: ReadonlyMap<string, NotificationStreamModel>;
  /** Violations found while folding: malformed events, capacity exceeded at some point of a product's history. */
  readonly foldViolations: readonly Violation[];
}

const idOf = (streamId: string, prefix: string): string => streamId.slice(prefix.length);

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const buildModel = (log: EventLog): Model => {
  const products = new Map<string, ProductModel>();
  const reservations = new Map<string, ReservationModel>();
  const payments = new Map<string, PaymentModel>();
  const notifications = new Map<string, NotificationStreamModel>();
  const foldViolations: Violation[] = [];

  const fold = <S, E>(parsed: readonly Identified<E>[], initial: S, evolve: (state: S, event: E) => S): S =>
    parsed.reduce((state, item) => evolve(state, item.event), initial);
  const parseAll = <E>(events: readonly LoggedEvent[], parse: (type: string, data: unknown) => E): Identified<E>[] =>
    events.flatMap((logged) => {
      try {
        return [{ event: parse(logged.type, logged.data), eventId: logged.eventId, revision: logged.revision, created: logged.created }];
      } catch (error) {
        foldViolations.push({
          invariant: "log.malformed-event",
          subject: logged.streamId,
          message: `event ${logged.revision} (${logged.type}) does not parse: ${describe(error)}`,
          detail: { eventId: logged.eventId, data: logged.data },
        });
        return [];
      }
    });

  for (const [streamId, events] of log.streams) {
    if (streamId.startsWith("product-")) {
      const productId = idOf(streamId, "product-");
      const parsed = parseAll(events, parseProductEvent);
      let state: ProductState = initialProductState;
      const holds = new Map<string, { quantity: number; expiresAt: string }>();
      const releases = new Map<string, ReleaseReason[]>();
      const commits = new Map<string, number>();
      let reported = false;
      for (const item of parsed) {
        state = evolveProduct(state, item.event);
        const e = item.event;
        if (e.type === "UnitsHeld") holds.set(e.data.reservationId, { quantity: e.data.quantity, expiresAt: e.data.expiresAt });
        if (e.type === "HeldUnitsReleased" || e.type === "CommittedUnitsReleased") {
          releases.set(e.data.reservationId, [...(releases.get(e.data.reservationId) ?? []), e.data.reason]);
        }
        if (e.type === "HeldUnitsCommitted") commits.set(e.data.reservationId, (commits.get(e.data.reservationId) ?? 0) + 1);
        if (isRegistered(state) && !reported) {
          const { held, committed, capacity } = state;
          if (held < 0 || committed < 0 || held + committed > capacity) {
            reported = true;
            foldViolations.push({
              invariant: "units.capacity",
              subject: streamId,
              message: `after event ${item.revision} (${e.type}) held=${held} committed=${committed} capacity=${capacity}: ${
                held < 0 || committed < 0 ? "negative count" : "more units allocated than the capacity"
              }`,
              detail: { eventId: item.eventId, event: e },
            });
          }
        }
      }
      products.set(productId, { productId, state, events: parsed, holds, releases, commits });
    } else if (streamId.startsWith("reservation-")) {
      const reservationId = idOf(streamId, "reservation-");
      const parsed = parseAll(events, parseReservationEvent);
      reservations.set(reservationId, { reservationId, state: fold(parsed, initialReservationState, evolveReservation), events: parsed });
    } else if (streamId.startsWith("payment-")) {
      const paymentId = idOf(streamId, "payment-");
      const parsed = parseAll(events, parsePaymentEvent);
      payments.set(paymentId, { paymentId, state: fold(parsed, initialPaymentState, evolvePayment), events: parsed });
    } else if (streamId.startsWith("notification-")) {
      const reservationId = idOf(streamId, "notification-");
      notifications.set(reservationId, { reservationId, events: parseAll(events, parseNotificationEvent) });
    }
  }
  return { products, reservations, payments, notifications, foldViolations };
};

// ---------------------------------------------------------------------------------------------
// Work the hold watchdog still has to do (timer-driven, so "quiet" must wait for it)

export interface PendingWork {
  readonly what: "expiry" | "abandon" | "release-abandoned";
  readonly reservationId: string;
  readonly productId: string;
  readonly dueAt: string;
}

/**
 * Watchdog work due before `horizon`: a `placed` reservation whose hold deadline comes (it will
 * expire), a hold without a recorded reservation (it will be abandoned), an abandoned reservation
 * whose units are still held (the watchdog died between its two writes and retries after its
 * lease). Everything else the system still owes is driven by subscriptions, which `quiet` watches.
 */
export const pendingWatchdogWork = (model: Model, horizon: Date): PendingWork[] => {
  const pending: PendingWork[] = [];
  const before = horizon.getTime();
  for (const product of model.products.values()) {
    if (!isRegistered(product.state)) continue;
    for (const [reservationId, allocation] of product.state.allocations) {
      if (allocation.stage !== "held") continue;
      const hold = product.holds.get(reservationId);
      const reservation = model.reservations.get(reservationId)?.state;
      const dueAt = hold?.expiresAt ?? new Date(0).toISOString();
      if (reservation === undefined || reservation.status === "none") {
        if (Date.parse(dueAt) <= before) pending.push({ what: "abandon", reservationId, productId: product.productId, dueAt });
      } else if (reservation.productId !== product.productId) {
        // A hold under a reservation id that was placed (or abandoned) on another product.
        if (Date.parse(dueAt) <= before) pending.push({ what: "release-abandoned", reservationId, productId: product.productId, dueAt });
      } else if (reservation.status === "abandoned") {
        pending.push({ what: "release-abandoned", reservationId, productId: product.productId, dueAt });
      }
    }
  }
  for (const { state } of model.reservations.values()) {
    if (isPlaced(state) && state.status === "placed" && Date.parse(state.expiresAt) <= before) {
      pending.push({ what: "expiry", reservationId: state.reservationId, productId: state.productId, dueAt: state.expiresAt });
    }
  }
  return pending;
};

// ---------------------------------------------------------------------------------------------
// The invariants

/** Statuses whose units are still allocated (`completed` only for sales). */
const HELD_STATUSES: ReadonlySet<ReservationStatus> = new Set(["placed"]);
const COMMITTED_STATUSES: ReadonlySet<ReservationStatus> = new Set(["awaiting-acceptance", "confirmed", "in-progress", "in-use"]);
const ENDED_STATUSES: ReadonlySet<ReservationStatus> = new Set(["cancelled", "expired", "rejected"]);

type ExpectedStage = "held" | "committed" | "released";

const expectedStage = (reservation: Reservation): { stage: ExpectedStage; reason?: ReleaseReason } => {
  if (HELD_STATUSES.has(reservation.status)) return { stage: "held" };
  if (COMMITTED_STATUSES.has(reservation.status)) return { stage: "committed" };
  if (reservation.status === "completed")
    return reservation.kind === "rental" ? { stage: "released", reason: "returned" } : { stage: "committed" };
  const reason = reservation.status as "cancelled" | "expired" | "rejected";
  return { stage: "released", reason };
};

const count = <E extends { type: string }>(events: readonly Identified<E>[], type: E["type"]): number =>
  events.filter((item) => item.event.type === type).length;

export interface CheckOptions {
  /** The time the check is made at. */
  readonly now: Date;
  /** How long past its deadline a hold or an expiry may still be pending before it is a violation. */
  readonly watchdogGraceMs?: number;
}

export const checkInvariants = (model: Model, options: CheckOptions): Violation[] => {
  const violations: Violation[] = [...model.foldViolations];
  const now = options.now.getTime();
  const grace = options.watchdogGraceMs ?? 5000;
  const push = (invariant: InvariantName, subject: string, message: string, detail?: unknown): void => {
    violations.push(detail === undefined ? { invariant, subject, message } : { invariant, subject, message, detail });
  };

  const placedByProduct = new Map<string, Reservation[]>();
  for (const { state } of model.reservations.values()) {
    if (!isPlaced(state)) continue;
    const list = placedByProduct.get(state.productId);
    if (list) list.push(state);
    else placedByProduct.set(state.productId, [state]);
  }

  // --- units --------------------------------------------------------------------------------
  for (const product of model.products.values()) {
    const stream = `product-${product.productId}`;
    if (!isRegistered(product.state)) continue;
    const state: Product = product.state;
    const live = placedByProduct.get(product.productId) ?? [];
    let accounted = 0;
    const accountedBy: Array<{ reservationId: string; status: string; quantity: number }> = [];
    for (const reservation of live) {
      const { stage } = expectedStage(reservation);
      if (stage === "released") continue;
      accounted += reservation.quantity;
      accountedBy.push({ reservationId: reservation.reservationId, status: reservation.status, quantity: reservation.quantity });
    }
    // Holds whose reservation was never recorded, not yet due for the watchdog: legitimately held.
    const pendingOrphans: Array<{ reservationId: string; quantity: number; expiresAt: string }> = [];
    for (const [reservationId, allocation] of state.allocations) {
      if (allocation.stage !== "held") continue;
      // A hold belongs to a live reservation only on that reservation's own product. Any other hold
      // (never recorded, or placed on another product by a request racing with one Idempotency-Key)
      // must be released by the hold watchdog by its deadline.
      const reservation = model.reservations.get(reservationId)?.state;
      if (reservation !== undefined && reservation.status !== "none" && reservation.productId === product.productId) continue;
      const hold = product.holds.get(reservationId);
      const expiresAt = hold?.expiresAt ?? "(unknown)";
      if (hold && Date.parse(hold.expiresAt) + grace > now) {
        accounted += allocation.quantity;
        pendingOrphans.push({ reservationId, quantity: allocation.quantity, expiresAt });
      } else {
        const whose =
          reservation === undefined || reservation.status === "none" ? "was never recorded" : `is on product-${reservation.productId}`;
        push(
          "units.orphan-hold",
          stream,
          `units held for ${reservationId}, whose reservation ${whose}, were not released by the hold watchdog (deadline ${expiresAt})`,
          {
            reservationId,
            allocation,
          },
        );
      }
    }
    const allocated = state.held + state.committed;
    if (allocated !== accounted) {
      push(
        "units.accounting",
        stream,
        `held+committed=${allocated} (held=${state.held}, committed=${state.committed}) but live reservations account for ${accounted}`,
        { capacity: state.capacity, accountedBy, pendingOrphans },
      );
    }
    if (state.held < 0 || state.committed < 0 || allocated > state.capacity) {
      push("units.capacity", stream, `held=${state.held} committed=${state.committed} capacity=${state.capacity} at the end`);
    }
  }

  // --- per reservation: units, payment, notifications ----------------------------------------
  for (const model_ of model.reservations.values()) {
    const { reservationId, state } = model_;
    const stream = `reservation-${reservationId}`;
    if (state.status === "none") continue;
    if (state.status === "abandoned") {
      const product = model.products.get(state.productId);
      const allocation = product && isRegistered(product.state) ? product.state.allocations.get(reservationId) : undefined;
      if (allocation && allocation.stage !== "released") {
        push(
          "units.allocation",
          stream,
          `abandoned reservation still has ${allocation.quantity} unit(s) ${allocation.stage} on product-${state.productId}`,
        );
      }
      const reasons = product?.releases.get(reservationId) ?? [];
      if (allocation && allocation.stage === "released" && !(reasons.length === 1 && reasons[0] === "abandoned")) {
        push(
          "units.allocation",
          stream,
          `abandoned reservation's units were released with reason(s) ${JSON.stringify(reasons)}, expected ["abandoned"]`,
        );
      }
      if (model.payments.has(reservationId))
        push("payment.orphan", `payment-${reservationId}`, "a payment exists for an abandoned (never placed) reservation");
      continue;
    }
    const reservation = state;

    // Units of this reservation.
    const product = model.products.get(reservation.productId);
    const allocation = product && isRegistered(product.state) ? product.state.allocations.get(reservationId) : undefined;
    const expected = expectedStage(reservation);
    if (!allocation) {
      push(
        "units.allocation",
        stream,
        `reservation is ${reservation.status} but product-${reservation.productId} has no allocation for it`,
      );
    } else {
      if (allocation.quantity !== reservation.quantity) {
        push("units.allocation", stream, `allocation of ${allocation.quantity} unit(s) but the reservation is for ${reservation.quantity}`);
      }
      if (allocation.stage !== expected.stage) {
        push(
          "units.allocation",
          stream,
          `reservation is ${reservation.status} (${reservation.kind}) but its ${allocation.quantity} unit(s) are ${allocation.stage}, expected ${expected.stage}`,
          {
            releases: product?.releases.get(reservationId) ?? [],
            commits: product?.commits.get(reservationId) ?? 0,
            events: model_.events.map((e) => e.event.type),
          },
        );
      } else if (expected.stage === "released") {
        const reasons = product?.releases.get(reservationId) ?? [];
        if (!(reasons.length === 1 && reasons[0] === expected.reason)) {
          push("units.allocation", stream, `units released with reason(s) ${JSON.stringify(reasons)}, expected ["${expected.reason}"]`);
        }
      }
      if ((product?.commits.get(reservationId) ?? 0) > 1)
        push("units.allocation", stream, `units committed ${product?.commits.get(reservationId)} times`);
    }

    // Expiry the watchdog owes.
    if (reservation.status === "placed" && Date.parse(reservation.expiresAt) + grace <= now) {
      push(
        "reservation.expiry-missed",
        stream,
        `still placed ${Math.round((now - Date.parse(reservation.expiresAt)) / 1000)} s after its hold deadline ${reservation.expiresAt}`,
      );
    }

    // Payment.
    const payment = model.payments.get(reservationId);
    const events = payment?.events ?? [];
    const settled = model_.events.some((item) => item.event.type === "ReservationPaymentSettled");
    const successes = count(events, "PaymentSucceeded");
    const refunds = count(events, "PaymentRefunded");
    const voids = count(events, "PaymentVoided");
    const paymentSummary = {
      status: payment?.state.status ?? "(none)",
      events: events.map((item) => item.event.type),
      reservationEvents: model_.events.map((item) => item.event.type),
    };
    if (!payment || !isRequested(payment.state)) {
      push("payment.missing", stream, `reservation is ${reservation.status} but its payment was never requested`, paymentSummary);
    } else {
      const paid = payment.state;
      if (paid.amount !== reservation.amount || paid.customerId !== reservation.customerId) {
        push(
          "payment.amount",
          `payment-${reservationId}`,
          `payment of ${paid.amount} for ${paid.customerId}, reservation of ${reservation.amount} for ${reservation.customerId}`,
        );
      }
      if (successes > 1)
        push("payment.charges", `payment-${reservationId}`, `${successes} successful charges (PaymentSucceeded)`, paymentSummary);
      const charged = successes > 0 || settled || paid.status === "paid" || paid.status === "refunded";
      if (charged && successes !== 1) {
        push(
          "payment.charges",
          `payment-${reservationId}`,
          `reservation was paid (settled=${settled}, payment ${paid.status}) but has ${successes} successful charges`,
          paymentSummary,
        );
      }
      if (refunds > 1) push("payment.refunds", `payment-${reservationId}`, `${refunds} refunds (PaymentRefunded)`, paymentSummary);
      if (voids > 1) push("payment.voids", `payment-${reservationId}`, `${voids} voids (PaymentVoided)`, paymentSummary);
      if (ENDED_STATUSES.has(reservation.status)) {
        if (charged && refunds !== 1) {
          push(
            "payment.refunds",
            `payment-${reservationId}`,
            `reservation ${reservation.status} after being charged, but ${refunds} refunds`,
            paymentSummary,
          );
        }
        if (!charged && voids !== 1) {
          push(
            "payment.voids",
            `payment-${reservationId}`,
            `reservation ${reservation.status} and never charged, but the payment is ${paid.status} (${voids} voids)`,
            paymentSummary,
          );
        }
      } else {
        if (refunds > 0)
          push(
            "payment.refunds",
            `payment-${reservationId}`,
            `reservation is ${reservation.status} (live) but its payment was refunded`,
            paymentSummary,
          );
        if (voids > 0)
          push(
            "payment.voids",
            `payment-${reservationId}`,
            `reservation is ${reservation.status} (live) but its payment was voided`,
            paymentSummary,
          );
        if (reservation.status === "placed" && successes > 0) {
          push(
            "payment.not-settled",
            stream,
            "the payment succeeded but the reservation is still placed (the saga did not settle it)",
            paymentSummary,
          );
        }
      }
    }

    // Notifications.
    checkNotifications(model_, reservation, payment, model.notifications.get(reservationId), push);
  }

  for (const payment of model.payments.values()) {
    const reservation = model.reservations.get(payment.paymentId)?.state;
    if (!reservation || !isPlaced(reservation)) {
      if (reservation?.status !== "abandoned")
        push("payment.orphan", `payment-${payment.paymentId}`, "a payment exists without a placed reservation");
    }
  }
  for (const stream of model.notifications.values()) {
    const reservation = model.reservations.get(stream.reservationId)?.state;
    if (!reservation || !isPlaced(reservation)) {
      push(
        "notifications.unexpected",
        `notification-${stream.reservationId}`,
        `notifications recorded for a reservation that is ${reservation?.status ?? "unknown"}`,
        {
          kinds: stream.events.flatMap((item) => (item.event.type === "NotificationRecorded" ? [item.event.data.kind] : [])),
        },
      );
    }
  }
  return violations;
};

// ---------------------------------------------------------------------------------------------
// Notifications: one per customer-visible status change (projections/README.md, "Kinds")

export interface ExpectedNotification {
  readonly causeEventId: string;
  readonly causeType: string;
  readonly kind: string;
  /** The customer's, or the product seller's (a paid order awaiting acceptance, a cancellation). */
  readonly audience: "customer" | "seller";
}

/** The reservation events that always tell the customer exactly one thing, and nobody else anything. */
const ONE_CUSTOMER_NOTIFICATION: Partial<Record<string, string>> = {
  ReservationAccepted: "reservation.accepted",
  ReservationRejected: "reservation.rejected",
  RentalStarted: "reservation.in-use",
  ReservationCompleted: "reservation.completed",
  ReservationExpired: "reservation.expired",
};

/** Derived from the spec's table, not from the notifier's code. */
export const expectedNotifications = (
  reservationModel: ReservationModel,
  reservation: Reservation,
  payment: PaymentModel | undefined,
): ExpectedNotification[] => {
  const expected: ExpectedNotification[] = [];
  const add = (item: Identified<{ type: string }>, kind: string, audience: ExpectedNotification["audience"] = "customer"): void => {
    expected.push({ causeEventId: item.eventId, causeType: item.event.type, kind, audience });
  };
  for (const item of reservationModel.events) {
    const e = item.event;
    switch (e.type) {
      case "ReservationPlaced":
        if (!e.data.paymentTokenProvided) add(item, "reservation.placed");
        break;
      case "ReservationPaymentSettled":
        add(item, e.data.status === "confirmed" ? "reservation.confirmed" : "reservation.awaiting-acceptance");
        if (e.data.status === "awaiting-acceptance") add(item, "seller.reservation.awaiting-acceptance", "seller");
        break;
      case "ReservationProgressed":
        if (e.data.stepIndex < reservation.fulfilmentSteps.length - 1) add(item, "reservation.in-progress");
        break;
      case "ReservationCancelled":
        add(item, "reservation.cancelled");
        add(item, "seller.reservation.cancelled", "seller");
        break;
      default: {
        const kind = ONE_CUSTOMER_NOTIFICATION[e.type];
        if (kind) add(item, kind);
        break;
      }
    }
  }
  if (payment && isRequested(payment.state) && payment.state.amount > 0) {
    for (const item of payment.events) {
      const kind = {
        PaymentSucceeded: "payment.paid",
        PaymentDeclined: "payment.declined",
        PaymentVoided: "payment.voided",
        PaymentRefunded: "payment.refunded",
      }[item.event.type as string];
      if (kind) add(item, kind);
    }
  }
  return expected;
};

const checkNotifications = (
  reservationModel: ReservationModel,
  reservation: Reservation,
  payment: PaymentModel | undefined,
  stream: NotificationStreamModel | undefined,
  push: (invariant: InvariantName, subject: string, message: string, detail?: unknown) => void,
): void => {
  const subject = `notification-${reservation.reservationId}`;
  const expected = expectedNotifications(reservationModel, reservation, payment);
  const recorded: NotificationRecorded["data"][] = [];
  const outcomes = new Map<string, string[]>();
  for (const item of stream?.events ?? []) {
    const e = item.event;
    if (e.type === "NotificationRecorded") recorded.push(e.data);
    else {
      const key = `${e.data.notificationId}\n${e.data.channel}`;
      outcomes.set(key, [...(outcomes.get(key) ?? []), e.type]);
    }
  }
  // One cause may call for one notification per audience.
  const causeKey = (eventId: string, audience: string): string => `${eventId}\n${audience}`;
  const byCause = new Map<string, NotificationRecorded["data"][]>();
  for (const data of recorded) {
    const key = causeKey(data.cause.eventId, data.audience ?? "customer");
    byCause.set(key, [...(byCause.get(key) ?? []), data]);
  }
  const timeline = {
    expected: expected.map((item) => `${item.causeType}→${item.kind}`),
    recorded: recorded.map((data) => `${data.cause.type}→${data.kind}`),
  };
  for (const item of expected) {
    const found = byCause.get(causeKey(item.causeEventId, item.audience)) ?? [];
    if (found.length === 0) {
      push("notifications.missing", subject, `no ${item.kind} notification for ${item.causeType} (event ${item.causeEventId})`, timeline);
    } else if (found.length > 1) {
      push(
        "notifications.duplicate",
        subject,
        `${found.length} notifications for ${item.causeType} (event ${item.causeEventId})`,
        timeline,
      );
    }
    for (const data of found) {
      if (data.kind !== item.kind)
        push("notifications.unexpected", subject, `${item.causeType} was notified as ${data.kind}, expected ${item.kind}`, timeline);
      if (data.customerId !== reservation.customerId)
        push("notifications.unexpected", subject, `${data.kind} went to ${data.customerId}, not the customer ${reservation.customerId}`);
      if (item.audience === "seller" && data.sellerId !== reservation.sellerId) {
        push(
          "notifications.unexpected",
          subject,
          `${data.kind} went to seller ${data.sellerId ?? "(none)"}, not the product's seller ${reservation.sellerId}`,
        );
      }
    }
  }
  const expectedCauses = new Set(expected.map((item) => causeKey(item.causeEventId, item.audience)));
  for (const data of recorded) {
    if (!expectedCauses.has(causeKey(data.cause.eventId, data.audience ?? "customer"))) {
      push(
        "notifications.unexpected",
        subject,
        `${data.kind} recorded for ${data.cause.type} (event ${data.cause.eventId}), which calls for no notification`,
        timeline,
      );
    }
  }
  const ids = new Map<string, number>();
  for (const data of recorded) ids.set(data.notificationId, (ids.get(data.notificationId) ?? 0) + 1);
  for (const [id, times] of ids) if (times > 1) push("notifications.duplicate", subject, `notification ${id} recorded ${times} times`);
  for (const data of recorded) {
    for (const channel of data.channels) {
      const got = outcomes.get(`${data.notificationId}\n${channel}`) ?? [];
      if (got.length !== 1) {
        push(
          "notifications.delivery",
          subject,
          `${data.kind} (${data.notificationId}) has ${got.length} delivery outcomes on channel ${channel}, expected 1`,
          { outcomes: got },
        );
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// My Page

export interface MyPageEntryLike {
  readonly reservationId: string;
  readonly reservationStatus: string;
  readonly paymentStatus: string | null;
  readonly currentStep: string | null;
  readonly quantity: number;
  readonly amount: number;
  readonly productId: string;
}

export interface MyPageLike {
  readonly customerId: string;
  readonly reservations: readonly MyPageEntryLike[];
}

/** My Page as served compared with the log: the same reservations, statuses, payment statuses and steps. */
export const compareMyPageWithLog = (model: Model, customerId: string, page: MyPageLike): Violation[] => {
  const violations: Violation[] = [];
  const subject = `my-page of ${customerId}`;
  const truth = new Map<string, { reservation: Reservation; paymentStatus: string | null }>();
  for (const { state } of model.reservations.values()) {
    if (!isPlaced(state) || state.customerId !== customerId) continue;
    const payment = model.payments.get(state.reservationId)?.state;
    truth.set(state.reservationId, { reservation: state, paymentStatus: payment && isRequested(payment) ? payment.status : null });
  }
  const seen = new Set<string>();
  for (const entry of page.reservations) {
    if (seen.has(entry.reservationId)) {
      violations.push({ invariant: "mypage.stale", subject, message: `reservation ${entry.reservationId} is listed twice` });
      continue;
    }
    seen.add(entry.reservationId);
    const expected = truth.get(entry.reservationId);
    if (!expected) {
      violations.push({
        invariant: "mypage.stale",
        subject,
        message: `lists reservation ${entry.reservationId}, which is not a placed reservation of this customer in the log`,
      });
      continue;
    }
    const want = {
      reservationStatus: expected.reservation.status,
      paymentStatus: expected.paymentStatus,
      currentStep: expected.reservation.currentStep,
      quantity: expected.reservation.quantity,
      amount: expected.reservation.amount,
      productId: expected.reservation.productId,
    };
    const got = {
      reservationStatus: entry.reservationStatus,
      paymentStatus: entry.paymentStatus,
      currentStep: entry.currentStep,
      quantity: entry.quantity,
      amount: entry.amount,
      productId: entry.productId,
    };
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      violations.push({
        invariant: "mypage.stale",
        subject,
        message: `reservation ${entry.reservationId} differs from the log`,
        detail: { myPage: got, log: want },
      });
    }
  }
  for (const [reservationId, expected] of truth) {
    if (!seen.has(reservationId)) {
      violations.push({
        invariant: "mypage.stale",
        subject,
        message: `reservation ${reservationId} (${expected.reservation.status}) is missing`,
      });
    }
  }
  return violations;
};

/** A short structural diff of two JSON values (paths that differ), for messages. */
export const jsonDiff = (a: unknown, b: unknown, path = "$", out: string[] = [], limit = 20): string[] => {
  if (out.length >= limit) return out;
  if (JSON.stringify(a) === JSON.stringify(b)) return out;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: length ${a.length} vs ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i += 1) jsonDiff(a[i], b[i], `${path}[${i}]`, out, limit);
    return out;
  }
  if (a && b && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const key of keys)
      jsonDiff((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`, out, limit);
    return out;
  }
  out.push(`${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
  return out;
};

/** Counts per invariant, for summaries. */
export const summarize = (violations: readonly Violation[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const violation of violations) counts[violation.invariant] = (counts[violation.invariant] ?? 0) + 1;
  return counts;
};

/** One line per violation (detail as compact JSON, cut at `detailChars`). */
export const formatViolations = (violations: readonly Violation[], max = 50, detailChars = 600): string =>
  violations
    .slice(0, max)
    .map((violation) => {
      const detail =
        violation.detail === undefined
          ? ""
          : ` ${JSON.stringify(violation.detail, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)).slice(0, detailChars)}`;
      return `- [${violation.invariant}] ${violation.subject}: ${violation.message}${detail}`;
    })
    .join("\n") + (violations.length > max ? `\n… and ${violations.length - max} more` : "");
