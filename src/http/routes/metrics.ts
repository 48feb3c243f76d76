import type { Router } from "@koa/router";
import type { Metrics } from "../../metrics.js";
import type { AppState } from "../state.js";

/** Prometheus text exposition of the process's metrics. */
export function metricsRoutes(router: Router<AppState>, metrics: Metrics): void {
  router.get("/metrics", async (ctx) => {
    const { contentType, body } = await metrics.render();
    ctx.type = contentType;
    ctx.body = body;
  });
}
