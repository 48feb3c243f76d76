import type { Middleware } from "koa";
import helmet from "koa-helmet";
import type { AppState } from "./state.js";

/**
 * helmet's defaults (nosniff, frame denial, no referrer, ...) with a CSP for a JSON API: nothing may
 * load or frame. `no-store` because responses are per-user and change with every command.
 */
export function securityHeaders(): Middleware<AppState> {
  const helmetHeaders = helmet({
    contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
    frameguard: { action: "deny" },
  });
  return async (ctx, next) => {
    ctx.set("Cache-Control", "no-store");
    ctx.remove("X-Powered-By");
    await helmetHeaders(ctx, next);
  };
}
