import type { Middleware } from "koa";
import type { CommandContext } from "../../application/ports.js";
import { actorOf } from "../auth.js";
import { expectedRevisionOf } from "../etag.js";
import type { AppContext, AppState } from "../state.js";

/** Middleware every router shares, built once by the app from the configuration. */
export interface RouteSupport {
  readonly authenticate: Middleware<AppState>;
  readonly jsonBody: Middleware<AppState>;
  /** Every write route takes a command slot last, once the request is authenticated and its body read. */
  readonly commandSlot: Middleware<AppState>;
}

/** The actor, the request id for correlation, and `If-Match` when the command honours it. */
export function commandContext(ctx: AppContext, options: { readonly ifMatch: boolean }): CommandContext {
  const expectedRevision = options.ifMatch ? expectedRevisionOf(ctx) : undefined;
  return {
    actor: actorOf(ctx),
    requestId: ctx.state.requestId,
    ...(expectedRevision === undefined ? {} : { expectedRevision }),
  };
}
