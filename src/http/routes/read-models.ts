import type { Router } from "@koa/router";
import type { ReadModels } from "../../application/read-models.js";
import { actorOf, requireRole, ROLES } from "../auth.js";
import { myPageResponse, notificationResponse, paymentResponse, productResponse, reservationResponse } from "../representations.js";
import { NoQuery, NotificationListQuery, PaymentListQuery, ProductListQuery, ReservationListQuery } from "../schemas.js";
import type { AppState } from "../state.js";
import { parseInput } from "../validation.js";
import type { RouteSupport } from "./support.js";

/**
 * The read-model endpoints (API.md "Read models" and the lists): eventually consistent views kept
 * by the projections; 503 `read-model-unavailable` with `Retry-After` while Redis is away.
 */
export function readModelRoutes(router: Router<AppState>, readModels: ReadModels, support: RouteSupport): void {
  router.get("/products", async (ctx) => {
    const query = parseInput("query", ProductListQuery, ctx.query);
    const items = await readModels.listProducts(query);
    ctx.body = { items: items.map(productResponse) };
  });

  router.get("/reservations", support.authenticate, requireRole(...ROLES), async (ctx) => {
    const query = parseInput("query", ReservationListQuery, ctx.query);
    const items = await readModels.listReservations(actorOf(ctx), query);
    ctx.body = { items: items.map(reservationResponse) };
  });

  router.get("/payments", support.authenticate, requireRole("customer", "admin"), async (ctx) => {
    const query = parseInput("query", PaymentListQuery, ctx.query);
    const items = await readModels.listPayments(actorOf(ctx), query);
    ctx.body = { items: items.map(paymentResponse) };
  });

  router.get("/my-page", support.authenticate, requireRole("customer"), async (ctx) => {
    parseInput("query", NoQuery, ctx.query);
    ctx.body = myPageResponse(await readModels.myPage(actorOf(ctx)));
  });

  router.get("/notifications", support.authenticate, requireRole("customer", "admin"), async (ctx) => {
    const query = parseInput("query", NotificationListQuery, ctx.query);
    const items = await readModels.listNotifications(actorOf(ctx), query);
    ctx.body = { items: items.map(notificationResponse) };
  });
}
