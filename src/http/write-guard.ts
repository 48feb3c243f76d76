import type { Middleware } from "koa";
import type { Metrics } from "../metrics.js";
import { AdmissionControl, type AdmissionOptions } from "./admission.js";
import type { AppContext, AppState } from "./state.js";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * The route pattern the router matched (`POST /reservations/:id/cancel`), so that metric labels are
 * bounded by the routes, never by what clients send; anything unrouted shares one label.
 */
const routeOf = (ctx: AppContext): string => {
  const matched = (ctx as AppContext & { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === "string" ? `${ctx.method} ${matched}` : "unmatched";
};

/**
 * Every write request passes admission control (load shedding with 503 + `Retry-After`) and is
 * timed into the command latency histogram. Reads are not shed: they are cheap and served from
 * Redis or memory.
 */
export function writeGuard(options: AdmissionOptions, metrics: Metrics): Middleware<AppState> {
  const admission = new AdmissionControl(options, metrics.admissionObserver());
  return async (ctx, next) => {
    if (SAFE_METHODS.has(ctx.method)) return next();
    // Shedding happens before routing, so it is counted per method only.
    await admission.middleware(ctx.method)(ctx, async () => {
      const started = process.hrtime.bigint();
      try {
        await next();
      } finally {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.observeCommand(routeOf(ctx), `${Math.floor(ctx.status / 100)}xx`, seconds);
      }
    });
  };
}
