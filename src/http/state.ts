import type { ParameterizedContext } from "koa";
import type { Actor } from "../application/ports.js";
import type { Logger } from "../logger.js";

/** What the edge's middleware puts on `ctx.state`. */
export interface AppState {
  /** Set first, by the request-id middleware. */
  requestId: string;
  /** A child logger carrying the request id. */
  log: Logger;
  /** Set by `authenticate` on routes that need a token. */
  actor?: Actor;
}

export type AppContext = ParameterizedContext<AppState>;
