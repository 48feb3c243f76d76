import type { Router } from "@koa/router";
import type { z } from "zod";
import type { CommandContext, ReservationView, Role } from "../../application/ports.js";
import type { ReservationOperations } from "../../application/reservation-service.js";
import { actorOf, requireRole, ROLES } from "../auth.js";
import { setRevisionETag } from "../etag.js";
import { reservationResponse } from "../representations.js";
import {
  EmptyBody,
  IdempotencyKeyHeader,
  IdParams,
  PlaceReservationBody,
  ProgressReservationBody,
  RejectReservationBody,
} from "../schemas.js";
import type { AppContext, AppState } from "../state.js";
import { parseInput } from "../validation.js";
import { commandContext, type RouteSupport } from "./support.js";

/** `POST /reservations/{id}/<name>`: who may call it (ownership is the service's check), its body, what it runs. */
export interface ReservationCommand {
  readonly name: string;
  readonly roles: readonly Role[];
  readonly body: z.ZodType;
  readonly summary: string;
  execute(service: ReservationOperations, context: CommandContext, id: string, body: unknown): Promise<ReservationView>;
}

type Run<S extends z.ZodType> = (
  service: ReservationOperations,
  context: CommandContext,
  id: string,
  body: z.output<S>,
) => Promise<ReservationView>;

/** Ties a body schema to the call that consumes its parsed value. */
function command<S extends z.ZodType>(
  spec: Omit<ReservationCommand, "execute" | "body"> & { readonly body: S; readonly run: Run<S> },
): ReservationCommand {
  const { run, ...rest } = spec;
  return {
    ...rest,
    execute: (service, context, id, raw) => run(service, context, id, parseInput("body", spec.body, raw)),
  };
}

export const RESERVATION_COMMANDS: readonly ReservationCommand[] = [
  command({
    name: "cancel",
    roles: ["customer", "admin"],
    body: EmptyBody,
    summary: "Cancel; repeating it changes nothing; refused once fulfilment or a rental started",
    run: (service, context, id) => service.cancel(context, id),
  }),
  command({
    name: "accept",
    roles: ["seller", "admin"],
    body: EmptyBody,
    summary: "Accept a paid order awaiting acceptance",
    run: (service, context, id) => service.accept(context, id),
  }),
  command({
    name: "reject",
    roles: ["seller", "admin"],
    body: RejectReservationBody,
    summary: "Reject a paid order awaiting acceptance",
    run: (service, context, id, body) => service.reject(context, id, body.reason),
  }),
  command({
    name: "progress",
    // The customer may confirm the final step (e.g. "picked-up"); the service enforces which.
    roles: ["seller", "admin", "customer"],
    body: ProgressReservationBody,
    summary: "Record the next fulfilment step; the last one completes",
    run: (service, context, id, body) => service.progress(context, id, body.step),
  }),
  command({
    name: "start",
    roles: ["customer", "admin"],
    body: EmptyBody,
    summary: "Start a confirmed rental",
    run: (service, context, id) => service.start(context, id),
  }),
  command({
    name: "return",
    roles: ["customer", "admin"],
    body: EmptyBody,
    summary: "Return a rental; completes and releases the units",
    run: (service, context, id) => service.return(context, id),
  }),
];

function sendReservation(ctx: AppContext, reservation: ReservationView, status = 200): void {
  ctx.status = status;
  setRevisionETag(ctx, reservation.revision);
  ctx.body = reservationResponse(reservation);
}

/** Told of every automatic charge requested without the price the customer agreed to. */
export type UnpinnedChargeObserver = () => void;

export function reservationRoutes(
  router: Router<AppState>,
  reservations: ReservationOperations,
  support: RouteSupport,
  onUnpinnedCharge: UnpinnedChargeObserver = () => undefined,
): void {
  /**
   * A repeated `Idempotency-Key` (`created: false`) answers 200 with the first result's body, so a
   * client can tell a replay from a new reservation; the first answer was 201.
   */
  router.post("/reservations", support.authenticate, requireRole("customer"), support.jsonBody, support.commandSlot, async (ctx) => {
    const headers = parseInput("headers", IdempotencyKeyHeader, {
      "idempotency-key": ctx.get("Idempotency-Key") || undefined,
    });
    const input = parseInput("body", PlaceReservationBody, ctx.request.body);
    if (input.paymentToken !== undefined && input.unitPrice === undefined) {
      // Charged at whatever the price is when the hold lands: clients should pin it with unitPrice.
      onUnpinnedCharge();
      ctx.state.log.warn(
        { productId: input.productId },
        "automatic charge requested without unitPrice; the product's current price applies",
      );
    }
    const { reservation, created } = await reservations.place(commandContext(ctx, { ifMatch: false }), input, headers["idempotency-key"]);
    ctx.set("Location", `/reservations/${reservation.id}`);
    sendReservation(ctx, reservation, created ? 201 : 200);
  });

  router.get("/reservations/:id", support.authenticate, requireRole(...ROLES), async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    sendReservation(ctx, await reservations.get(actorOf(ctx), id));
  });

  for (const command of RESERVATION_COMMANDS) {
    const guard = requireRole(...command.roles);
    router.post(`/reservations/:id/${command.name}`, support.authenticate, guard, support.jsonBody, support.commandSlot, async (ctx) => {
      const { id } = parseInput("params", IdParams, ctx.params);
      const context = commandContext(ctx, { ifMatch: true });
      sendReservation(ctx, await command.execute(reservations, context, id, ctx.request.body));
    });
  }
}
