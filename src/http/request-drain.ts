import type { Middleware } from "koa";
import { problem, sendProblem, PROBLEM_CONTENT_TYPE, type Problem } from "./problem.js";
import type { AppContext, AppState } from "./state.js";

/** Long enough for a load balancer to notice the node is gone, short enough for a client to retry soon. */
const RETRY_AFTER_SECONDS = "2";

const stoppingProblem = (): Problem =>
  problem(503, "service-stopping", {
    detail: "the service is shutting down; retry the request (another node, or this one once it is back)",
  });

/**
 * Lets a stopping service finish what it started: counts the requests in flight, answers new ones
 * 503 (keep-alive connections still bring some after the listener closed), and on request answers
 * the ones still running 503 before the event store is taken away from under them.
 */
export class RequestDrain {
  private stopping = false;
  private readonly inFlight = new Set<AppContext>();
  private idleWaiters: (() => void)[] = [];

  get isStopping(): boolean {
    return this.stopping;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  middleware(): Middleware<AppState> {
    return async (ctx, next) => {
      if (this.stopping) {
        ctx.set("Connection", "close");
        sendProblem(ctx, stoppingProblem(), { "Retry-After": RETRY_AFTER_SECONDS });
        return;
      }
      this.inFlight.add(ctx);
      try {
        await next();
      } finally {
        this.inFlight.delete(ctx);
        if (this.inFlight.size === 0) this.wakeIdle();
      }
    };
  }

  /** From now on every new request is refused with 503. */
  stop(): void {
    this.stopping = true;
  }

  /** Resolves true once nothing is in flight, false if `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((waiter) => waiter !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /**
   * Answers every request still in flight with 503 now, so that none is answered 500 when its event
   * store call is cancelled; whatever its handler does later finds the response already sent.
   */
  answerRemaining(): number {
    let answered = 0;
    for (const ctx of this.inFlight) {
      const res = ctx.res;
      if (res.headersSent || res.writableEnded) continue;
      const body = JSON.stringify(stoppingProblem());
      res.setHeader("Content-Type", PROBLEM_CONTENT_TYPE);
      res.setHeader("Content-Length", Buffer.byteLength(body));
      res.setHeader("Retry-After", RETRY_AFTER_SECONDS);
      res.setHeader("Cache-Control", "no-store");
      res.setHeader("Connection", "close");
      res.writeHead(503);
      res.end(body);
      answered += 1;
    }
    return answered;
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
