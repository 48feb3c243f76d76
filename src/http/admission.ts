import type { Middleware } from "koa";
import { ServiceUnavailableError } from "../application/errors.js";
import type { AppState } from "./state.js";

export interface AdmissionOptions {
  /** Commands processed at once; more wait in the queue. */
  readonly maxInFlight: number;
  /** Commands allowed to wait; more are refused at once. */
  readonly maxQueued: number;
  /** How long a queued command may wait for a slot before it is refused. */
  readonly queueTimeoutMs: number;
}

export interface AdmissionObserver {
  inFlight(count: number): void;
  shed(route: string, reason: "queue-full" | "queue-timeout"): void;
}

interface Waiter {
  readonly admit: () => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Load shedding for write endpoints: a bounded number of commands run at once and a short,
 * bounded queue waits for them; past either bound the request is refused with 503 and
 * `Retry-After` straight away, instead of piling up and timing out for everyone.
 */
export class AdmissionControl {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly options: AdmissionOptions,
    private readonly observer: AdmissionObserver = { inFlight: () => undefined, shed: () => undefined },
  ) {}

  get inFlight(): number {
    return this.running;
  }

  middleware(route: string): Middleware<AppState> {
    return async (_ctx, next) => {
      await this.acquire(route);
      try {
        await next();
      } finally {
        this.release();
      }
    };
  }

  private async acquire(route: string): Promise<void> {
    if (this.running < this.options.maxInFlight) {
      this.running += 1;
      this.observer.inFlight(this.running);
      return;
    }
    if (this.queue.length >= this.options.maxQueued) {
      this.observer.shed(route, "queue-full");
      throw overloaded();
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        admit: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          this.observer.shed(route, "queue-timeout");
          reject(overloaded());
        }, this.options.queueTimeoutMs),
      };
      this.queue.push(waiter);
    });
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) {
      // The slot passes straight to the next waiter: `running` stays the same.
      next.admit();
      return;
    }
    this.running -= 1;
    this.observer.inFlight(this.running);
  }
}

const overloaded = (): ServiceUnavailableError =>
  new ServiceUnavailableError("the service is overloaded; retry shortly", 1);
