import { createHash, timingSafeEqual } from "node:crypto";
import type { Router } from "@koa/router";
import type { HttpMetrics } from "../http-metrics.js";
import { HttpProblem } from "../problem.js";
import type { AppContext, AppState } from "../state.js";

/** Who may read `/metrics`: with a token, whoever presents it; without one, only this machine. */
export interface MetricsAccess {
  readonly token?: string | undefined;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/** Compared through digests so that neither the length nor the content leaks through timing. */
const sameSecret = (given: string, expected: string): boolean =>
  timingSafeEqual(createHash("sha256").update(given).digest(), createHash("sha256").update(expected).digest());

/** Whether a client at `remoteAddress` sending `authorization` may read the metrics. */
export const mayReadMetrics = (remoteAddress: string, authorization: string, access: MetricsAccess): boolean => {
  if (access.token === undefined) return LOOPBACK.test(remoteAddress);
  const presented = /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
  return presented !== undefined && sameSecret(presented, access.token);
};

const allowed = (ctx: AppContext, access: MetricsAccess): boolean =>
  mayReadMetrics(ctx.req.socket.remoteAddress ?? "", ctx.get("Authorization"), access);

/**
 * Prometheus text exposition of the process's metrics. They describe the service's load and
 * internals, so they are not public: loopback only unless `METRICS_TOKEN` is set, then bearer only.
 */
export function metricsRoutes(router: Router<AppState>, metrics: HttpMetrics, access: MetricsAccess = {}): void {
  router.get("/metrics", async (ctx) => {
    if (!allowed(ctx, access)) {
      throw new HttpProblem(403, "forbidden", {
        detail:
          access.token === undefined
            ? "metrics are served to loopback only unless METRICS_TOKEN is set"
            : "a valid metrics bearer token is required",
      });
    }
    const { contentType, body } = await metrics.render();
    ctx.type = contentType;
    ctx.body = body;
  });
}
