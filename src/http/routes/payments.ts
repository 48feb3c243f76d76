import type { Router } from "@koa/router";
import type { PaymentService, PaymentView } from "../../application/ports.js";
import { actorOf, requireRole } from "../auth.js";
import { setRevisionETag } from "../etag.js";
import { paymentResponse } from "../representations.js";
import { IdempotencyKeyHeader, IdParams, PayPaymentBody } from "../schemas.js";
import type { AppContext, AppState } from "../state.js";
import { parseInput } from "../validation.js";
import { commandContext, type RouteSupport } from "./support.js";

function sendPayment(ctx: AppContext, payment: PaymentView): void {
  ctx.status = 200;
  setRevisionETag(ctx, payment.revision);
  ctx.body = paymentResponse(payment);
}

/** One payment, consistent with the commands already answered (its id is its reservation's id). */
export function paymentRoutes(router: Router<AppState>, payments: PaymentService, support: RouteSupport): void {
  router.get("/payments/:id", support.authenticate, requireRole("customer", "admin"), async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    sendPayment(ctx, await payments.get(actorOf(ctx), id));
  });

  /**
   * 200 paid (also when it already was); the service throws `PaymentDeclinedError` (402),
   * `PaymentProviderUnavailableError` (503) and `payment-not-payable` (409). `If-Match` is not
   * honoured: paying is made safe to repeat by `Idempotency-Key` instead.
   */
  router.post("/payments/:id/pay", support.authenticate, requireRole("customer"), support.jsonBody, support.commandSlot, async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    const headers = parseInput("headers", IdempotencyKeyHeader, { "idempotency-key": ctx.get("Idempotency-Key") || undefined });
    const { token } = parseInput("body", PayPaymentBody, ctx.request.body);
    sendPayment(ctx, await payments.pay(commandContext(ctx, { ifMatch: false }), id, token, headers["idempotency-key"]));
  });
}
