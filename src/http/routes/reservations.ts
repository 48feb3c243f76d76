import { Router } from "@koa/router";
import type { z } from "zod";
import type { CommandContext, ReservationService, ReservationView, Role } from "../../application/ports.js";
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

interface CommandSpec {
  readonly roles: readonly Role[];
  readonly body: z.ZodType;
  readonly summary: string;
}

/** `POST /reservations/{id}/<name>`: who may call it (ownership is the service's check) and its body. */
export const RESERVATION_COMMANDS = {
  cancel: { roles: ["customer", "admin"], body: EmptyBody, summary: "Cancel (idempotent); refused once fulfilment or a rental started" },
  accept: { roles: ["seller", "admin"], body: EmptyBody, summary: "Accept a paid order awaiting acceptance" },
  reject: { roles: ["seller", "admin"], body: RejectReservationBody, summary: "Reject a paid order awaiting acceptance" },
  // The customer may confirm the final step (e.g. "picked-up"); the service enforces which.
  progress: { roles: ["seller", "admin", "customer"], body: ProgressReservationBody, summary: "Record the next fulfilment step" },
  start: { roles: ["customer", "admin"], body: EmptyBody, summary: "Start a confirmed rental" },
  return: { roles: ["customer", "admin"], body: EmptyBody, summary: "Return a rental; completes and releases the units" },
} as const satisfies Readonly<Record<string, CommandSpec>>;

type CommandName = keyof typeof RESERVATION_COMMANDS;
type CommandBody<K extends CommandName> = z.output<(typeof RESERVATION_COMMANDS)[K]["body"]>;
type Runners = {
  readonly [K in CommandName]: (context: CommandContext, id: string, body: CommandBody<K>) => Promise<ReservationView>;
};

function runners(reservations: ReservationService): Runners {
  return {
    cancel: (context, id) => reservations.cancel(context, id),
    accept: (context, id) => reservations.accept(context, id),
    reject: (context, id, body) => reservations.reject(context, id, body.reason),
    progress: (context, id, body) => reservations.progress(context, id, body.step),
    start: (context, id) => reservations.start(context, id),
    return: (context, id) => reservations.return(context, id),
  };
}

function sendReservation(ctx: AppContext, reservation: ReservationView, status = 200): void {
  ctx.status = status;
  setRevisionETag(ctx, reservation.revision);
  ctx.body = reservationResponse(reservation);
}

export function reservationRoutes(reservations: ReservationService, support: RouteSupport): Router<AppState> {
  const router = new Router<AppState>();

  /**
   * A repeated `Idempotency-Key` (`created: false`) answers 200 with the first result's body, so a
   * client can tell a replay from a new reservation; the first answer was 201.
   */
  router.post("/reservations", support.authenticate, requireRole("customer"), support.jsonBody, async (ctx) => {
    const headers = parseInput("headers", IdempotencyKeyHeader, {
      "idempotency-key": ctx.get("Idempotency-Key") || undefined,
    });
    const input = parseInput("body", PlaceReservationBody, ctx.request.body);
    const { reservation, created } = await reservations.place(
      commandContext(ctx, { ifMatch: false }),
      input,
      headers["idempotency-key"],
    );
    ctx.set("Location", `/reservations/${reservation.id}`);
    sendReservation(ctx, reservation, created ? 201 : 200);
  });

  router.get("/reservations/:id", support.authenticate, requireRole(...ROLES), async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    sendReservation(ctx, await reservations.get(actorOf(ctx), id));
  });

  const run = runners(reservations);
  const mount = <K extends CommandName>(name: K) => {
    const spec = RESERVATION_COMMANDS[name];
    router.post(`/reservations/:id/${name}`, support.authenticate, requireRole(...spec.roles), support.jsonBody, async (ctx) => {
      const { id } = parseInput("params", IdParams, ctx.params);
      const body: CommandBody<K> = parseInput("body", spec.body, ctx.request.body);
      const context = commandContext(ctx, { ifMatch: true });
      sendReservation(ctx, await run[name](context, id, body));
    });
  };
  for (const name of Object.keys(RESERVATION_COMMANDS) as CommandName[]) mount(name);

  return router;
}
