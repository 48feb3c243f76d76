import type { Middleware } from "koa";
import type { AppState } from "./state.js";

/** One line per request. Deliberately no headers, query string or body: they can carry tokens. */
export function accessLog(): Middleware<AppState> {
  return async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      ctx.state.log.info(
        {
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: Math.round((performance.now() - started) * 10) / 10,
        },
        "request",
      );
    }
  };
}
