import type { Router } from "@koa/router";
import type { ReadModels } from "../../application/read-models.js";
import { actorOf, requireRole, ROLES } from "../auth.js";
import { pageLinks, pageOptions } from "../pagination.js";
import { myPageResponse, notificationResponse, paymentResponse, productResponse, reservationResponse } from "../representations.js";
import { MyPageQuery, NotificationListQuery, PaymentListQuery, ProductListQuery, ReservationListQuery } from "../schemas.js";
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
    const page = await readModels.listProducts(pageOptions(query));
    ctx.body = { items: page.items.map(productResponse), ...pageLinks(ctx, page.nextCursor) };
  });

  router.get("/reservations", support.authenticate, requireRole(...ROLES), async (ctx) => {
    const query = parseInput("query", ReservationListQuery, ctx.query);
    const page = await readModels.listReservations(actorOf(ctx), pageOptions(query));
    ctx.body = { items: page.items.map(reservationResponse), ...pageLinks(ctx, page.nextCursor) };
  });

  router.get("/payments", support.authenticate, requireRole("customer", "admin"), async (ctx) => {
    const query = parseInput("query", PaymentListQuery, ctx.query);
    const page = await readModels.listPayments(actorOf(ctx), pageOptions(query));
    ctx.body = { items: page.items.map(paymentResponse), ...pageLinks(ctx, page.nextCursor) };
  });

  router.get("/my-page", support.authenticate, requireRole("customer"), async (ctx) => {
    const query = parseInput("query", MyPageQuery, ctx.query);
    const page = await readModels.myPage(actorOf(ctx), pageOptions(query));
    ctx.body = { ...myPageResponse(page), ...pageLinks(ctx, page.nextCursor) };
  });

  router.get("/notifications", support.authenticate, requireRole(...ROLES), async (ctx) => {
    const query = parseInput("query", NotificationListQuery, ctx.query);
    const page = await readModels.listNotifications(actorOf(ctx), pageOptions(query));
    ctx.body = { items: page.items.map(notificationResponse), ...pageLinks(ctx, page.nextCursor) };
  });
}
