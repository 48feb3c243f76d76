import type { Router } from "@koa/router";
import type { ReadinessProbe } from "../../application/ports.js";
import type { ReadyResponse } from "../schemas.js";
import type { AppState } from "../state.js";

/** A probe that hangs must not hang the orchestrator's readiness check. */
const PROBE_TIMEOUT_MS = 5_000;

async function checkWithin(readiness: ReadinessProbe, ms: number): Promise<ReadyResponse["dependencies"]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the readiness probe took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([readiness.check(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness says the process answers; readiness asks the dependencies (503 lists which are down). */
export function healthRoutes(router: Router<AppState>, readiness: ReadinessProbe): void {
  router.get("/health/live", (ctx) => {
    ctx.body = { status: "ok" };
  });

  router.get("/health/ready", async (ctx) => {
    let body: ReadyResponse;
    try {
      const dependencies = await checkWithin(readiness, PROBE_TIMEOUT_MS);
      const up = Object.values(dependencies).every((dependency) => dependency.up);
      body = { status: up ? "ok" : "unavailable", dependencies };
    } catch (error) {
      ctx.state.log.warn({ err: error }, "readiness probe failed");
      body = { status: "unavailable", dependencies: { probe: { up: false, detail: "the readiness probe failed" } } };
    }
    ctx.status = body.status === "ok" ? 200 : 503;
    if (body.status !== "ok") ctx.set("Retry-After", "5");
    ctx.body = body;
  });
}
