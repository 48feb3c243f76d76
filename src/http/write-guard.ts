import type { Middleware } from "koa";
import type { HttpMetrics } from "./http-metrics.js";
import { AdmissionControl, type AdmissionOptions } from "./admission.js";
import { actorOf } from "./auth.js";
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

/** Times every write request into the command latency histogram, whatever its outcome. */
export function commandTiming(metrics: HttpMetrics): Middleware<AppState> {
  return async (ctx, next) => {
    if (SAFE_METHODS.has(ctx.method)) {
      await next();
      return;
    }
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics.observeCommand(routeOf(ctx), `${Math.floor(ctx.status / 100)}xx`, seconds);
    }
  };
}

/**
 * The command slot of a write route (load shedding with 503 + `Retry-After`, and a per-user bound
 * answered 429). Routes take it after authentication and after the body has been read and
 * parsed: a client that sends its body slowly, or not at all, holds a connection but never a
 * slot, so it cannot block other users' writes.
 */
export function commandSlot(options: AdmissionOptions, metrics: HttpMetrics): Middleware<AppState> {
  const admission = new AdmissionControl(options, metrics.admissionObserver());
  return (ctx, next) => admission.run(routeOf(ctx), actorOf(ctx).id, () => next());
}
