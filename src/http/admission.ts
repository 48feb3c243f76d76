import { ServiceUnavailableError } from "../core/errors.js";
import { HttpProblem } from "./problem.js";

export interface AdmissionOptions {
  /** Commands processed at once; more wait in the queue. */
  readonly maxInFlight: number;
  /** Commands allowed to wait; more are refused at once. */
  readonly maxQueued: number;
  /** How long a queued command may wait for a slot before it is refused. */
  readonly queueTimeoutMs: number;
  /** Commands one principal may have running or queued at once, so that one account cannot take every slot. */
  readonly maxPerPrincipal: number;
}

export interface AdmissionObserver {
  inFlight(count: number): void;
  shed(route: string, reason: "queue-full" | "queue-timeout" | "principal-limit"): void;
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
  private readonly perPrincipal = new Map<string, number>();

  constructor(
    private readonly options: AdmissionOptions,
    private readonly observer: AdmissionObserver = { inFlight: () => undefined, shed: () => undefined },
  ) {}

  get inFlight(): number {
    return this.running;
  }

  /** Runs `work` in a command slot, counted against `principal`. */
  async run<T>(route: string, principal: string, work: () => Promise<T>): Promise<T> {
    const held = this.perPrincipal.get(principal) ?? 0;
    if (held >= this.options.maxPerPrincipal) {
      this.observer.shed(route, "principal-limit");
      throw new TooManyCommandsError(this.options.maxPerPrincipal);
    }
    this.perPrincipal.set(principal, held + 1);
    try {
      await this.acquire(route);
      try {
        return await work();
      } finally {
        this.release();
      }
    } finally {
      const left = (this.perPrincipal.get(principal) ?? 1) - 1;
      if (left === 0) this.perPrincipal.delete(principal);
      else this.perPrincipal.set(principal, left);
    }
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

const overloaded = (): ServiceUnavailableError => new ServiceUnavailableError("the service is overloaded; retry shortly", 1);

/** One principal already has as many commands running or queued as it may: 429, its own limit, not the service's. */
export class TooManyCommandsError extends HttpProblem {
  constructor(limit: number) {
    super(429, "too-many-requests", {
      detail: `at most ${limit} commands of one user are processed at once; retry when one has finished`,
      headers: { "Retry-After": "1" },
    });
  }
}
