import type { Router } from "@koa/router";
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

/** `POST /reservations/{id}/<name>`: who may call it (ownership is the service's check), its body, what it runs. */
export interface ReservationCommand {
  readonly name: string;
  readonly roles: readonly Role[];
  readonly body: z.ZodType;
  readonly summary: string;
  execute(service: ReservationService, context: CommandContext, id: string, body: unknown): Promise<ReservationView>;
}

function command<S extends z.ZodType>(
  name: string,
  roles: readonly Role[],
  body: S,
  summary: string,
  run: (service: ReservationService, context: CommandContext, id: string, body: z.output<S>) => Promise<ReservationView>,
): ReservationCommand {
  return { name, roles, body, summary, execute: (service, context, id, raw) => run(service, context, id, parseInput("body", body, raw)) };
}

export const RESERVATION_COMMANDS: readonly ReservationCommand[] = [
  command("cancel", ["customer", "admin"], EmptyBody, "Cancel; repeating it changes nothing; refused once fulfilment or a rental started", (s, c, id) => s.cancel(c, id)),
  command("accept", ["seller", "admin"], EmptyBody, "Accept a paid order awaiting acceptance", (s, c, id) => s.accept(c, id)),
  command("reject", ["seller", "admin"], RejectReservationBody, "Reject a paid order awaiting acceptance", (s, c, id, body) => s.reject(c, id, body.reason)),
  // The customer may confirm the final step (e.g. "picked-up"); the service enforces which.
  command("progress", ["seller", "admin", "customer"], ProgressReservationBody, "Record the next fulfilment step; the last one completes", (s, c, id, body) => s.progress(c, id, body.step)),
  command("start", ["customer", "admin"], EmptyBody, "Start a confirmed rental", (s, c, id) => s.start(c, id)),
  command("return", ["customer", "admin"], EmptyBody, "Return a rental; completes and releases the units", (s, c, id) => s.return(c, id)),
];

function sendReservation(ctx: AppContext, reservation: ReservationView, status = 200): void {
  ctx.status = status;
  setRevisionETag(ctx, reservation.revision);
  ctx.body = reservationResponse(reservation);
}

export function reservationRoutes(router: Router<AppState>, reservations: ReservationService, support: RouteSupport): void {

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

  for (const command of RESERVATION_COMMANDS) {
    router.post(`/reservations/:id/${command.name}`, support.authenticate, requireRole(...command.roles), support.jsonBody, async (ctx) => {
      const { id } = parseInput("params", IdParams, ctx.params);
      const context = commandContext(ctx, { ifMatch: true });
      sendReservation(ctx, await command.execute(reservations, context, id, ctx.request.body));
    });
  }

}
