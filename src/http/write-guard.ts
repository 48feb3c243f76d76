import type { Middleware } from "koa";
import type { Metrics } from "../metrics.js";
import { AdmissionControl, type AdmissionOptions } from "./admission.js";
import type { AppState } from "./state.js";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** `POST /reservations/<uuid>/cancel` → `POST /reservations/:id/cancel`: bounded label values. */
const routeOf = (method: string, path: string): string => `${method} ${path.replace(UUID, ":id")}`;

/**
 * Every write request passes admission control (load shedding with 503 + `Retry-After`) and is
 * timed into the command latency histogram. Reads are not shed: they are cheap and served from
 * Redis or memory.
 */
export function writeGuard(options: AdmissionOptions, metrics: Metrics): Middleware<AppState> {
  const admission = new AdmissionControl(options, metrics.admissionObserver());
  return async (ctx, next) => {
    if (SAFE_METHODS.has(ctx.method)) return next();
    const route = routeOf(ctx.method, ctx.path);
    await admission.middleware(route)(ctx, async () => {
      const started = process.hrtime.bigint();
      try {
        await next();
      } finally {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        metrics.observeCommand(route, `${Math.floor(ctx.status / 100)}xx`, seconds);
      }
    });
  };
}
