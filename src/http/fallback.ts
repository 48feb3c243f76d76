import type { Middleware } from "koa";
import { problem, sendProblem } from "./problem.js";
import type { AppState } from "./state.js";

/**
 * Put outside the routers: gives problem bodies to what they leave bodiless — 404 for an unknown
 * path, and the 405/501 that `allowedMethods()` answers (its `Allow` header is kept).
 */
export function routeFallback(): Middleware<AppState> {
  return async (ctx, next) => {
    await next();
    if (ctx.body !== undefined && ctx.body !== null) return;
    if (ctx.status === 404) {
      sendProblem(ctx, problem(404, "not-found", { detail: `no route for ${ctx.method} ${ctx.path}` }));
    } else if (ctx.status === 405) {
      sendProblem(ctx, problem(405, "method-not-allowed", { detail: `${ctx.method} is not allowed on ${ctx.path}` }));
    } else if (ctx.status === 501) {
      sendProblem(ctx, problem(501, "not-implemented", { detail: `${ctx.method} is not supported` }));
    }
  };
}
