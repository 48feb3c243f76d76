import { randomUUID } from "node:crypto";
import type { Middleware } from "koa";
import type { Logger } from "../logger.js";
import type { AppState } from "./state.js";

export const REQUEST_ID_HEADER = "X-Request-Id";

/** A caller's id is reused only when it is short and plain, so it cannot inject into logs or headers. */
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(logger: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const offered = ctx.get(REQUEST_ID_HEADER);
    const id = ACCEPTABLE_ID.test(offered) ? offered : randomUUID();
    ctx.state.requestId = id;
    ctx.state.log = logger.child({ requestId: id });
    ctx.set(REQUEST_ID_HEADER, id);
    await next();
  };
}
