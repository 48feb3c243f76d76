import {
  CancelledError,
  DeadlineExceededError,
  NotLeaderError,
  StreamNotFoundError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
} from "@eventstore/db-client";
import CircuitBreaker from "opossum";
import { ServiceUnavailableError } from "../../core/errors.js";

export interface EventStoreCircuitOptions {
  /** Failure percentage over the rolling window that opens the circuit. */
  readonly errorThresholdPercentage?: number;
  /** How long the circuit stays open before one trial call is let through. */
  readonly resetTimeoutMs?: number;
  readonly volumeThreshold?: number;
}

export type CircuitState = "closed" | "open" | "half-open";

/**
 * Answers from EventStoreDB that are part of normal operation, not signs that it is down. In a
 * cluster, NotLeader is one of them: a follower names the leader, the client switches to it by
 * itself, and the caller (the repository) retries; counting it would open the circuit on every
 * election.
 */
const isNormalAnswer = (error: unknown): boolean =>
  error instanceof WrongExpectedVersionError || error instanceof StreamNotFoundError || error instanceof NotLeaderError;

/** opossum's refusal of calls made while a half-open circuit's trial call is running. */
const isBreakerRejection = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { code?: unknown }).code === "EOPENBREAKER";

/** gRPC status codes of a call that never reached a working server: CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE. */
const OUTAGE_STATUS_CODES: ReadonlySet<number> = new Set([1, 4, 14]);

/**
 * The client converts most transport failures into its own error classes, but not all: appends on
 * its BatchAppend stream fail with grpc-js's raw errors (`14 UNAVAILABLE` once the connection is
 * gone) or `CancelledError` (the calls in flight when it dropped). All of them mean "away".
 */
const isOutage = (error: unknown): boolean =>
  error instanceof UnavailableError ||
  error instanceof DeadlineExceededError ||
  error instanceof TimeoutError ||
  error instanceof CancelledError ||
  (error instanceof Error && "code" in error && typeof error.code === "number" && OUTAGE_STATUS_CODES.has(error.code));

/**
 * A circuit breaker in front of EventStoreDB. When calls keep failing or timing out, later calls
 * fail at once with a 503 (`ServiceUnavailableError`) instead of each waiting for its deadline, so
 * requests do not pile up while the store is away; one trial call per `resetTimeoutMs` finds out
 * when it is back, and the circuit closes by itself.
 */
export class EventStoreCircuit {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private readonly resetTimeoutMs: number;

  constructor(options: EventStoreCircuitOptions = {}) {
    this.resetTimeoutMs = options.resetTimeoutMs ?? 2000;
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      // Calls carry their own gRPC deadline; the breaker only counts their failures.
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      resetTimeout: this.resetTimeoutMs,
      volumeThreshold: options.volumeThreshold ?? 3,
      rollingCountTimeout: 5000,
      errorFilter: (error: unknown) => isNormalAnswer(error) || !isOutage(error),
    });
  }

  get state(): CircuitState {
    return this.breaker.opened ? "open" : this.breaker.halfOpen ? "half-open" : "closed";
  }

  async run<T>(call: () => Promise<T>): Promise<T> {
    if (this.breaker.opened) {
      throw new ServiceUnavailableError("the event store is unavailable", Math.ceil(this.resetTimeoutMs / 1000));
    }
    try {
      return (await this.breaker.fire(call)) as T;
    } catch (error) {
      if (isOutage(error) || isBreakerRejection(error)) {
        throw new ServiceUnavailableError("the event store is unavailable", Math.ceil(this.resetTimeoutMs / 1000));
      }
      throw error;
    }
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
