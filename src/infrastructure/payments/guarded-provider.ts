import CircuitBreaker from "opossum";
import {
  type ChargeRequest,
  type ChargeResult,
  type PaymentProvider,
  PaymentProviderUnavailableError,
  type RefundRequest,
} from "../../application/payment-provider.js";

export interface GuardOptions {
  /** A call slower than this counts as a failure. */
  readonly timeoutMs?: number;
  /** Failure percentage over the rolling window that opens the circuit. */
  readonly errorThresholdPercentage?: number;
  /** How long the circuit stays open before one trial call is let through. */
  readonly resetTimeoutMs?: number;
  /** Calls needed in the window before the percentage means anything. */
  readonly volumeThreshold?: number;
  /**
   * Charge failures count toward opening the circuit only once this many different customers saw
   * one within the rolling window: one customer retrying a card the provider chokes on must not
   * stop everyone's payments, while a real outage fails everyone's calls.
   */
  readonly minCustomersToOpen?: number;
}

const ROLLING_WINDOW_MS = 10_000;

export type CircuitState = "closed" | "open" | "half-open";

/**
 * Wraps a provider in circuit breakers (opossum): when it keeps failing or timing out, calls fail
 * at once with `PaymentProviderUnavailableError` instead of piling up, and a trial call after
 * `resetTimeoutMs` closes the circuit again. A decline is an answer, not a failure.
 */
export class GuardedPaymentProvider implements PaymentProvider {
  readonly name: string;
  private readonly chargeBreaker: CircuitBreaker<[ChargeRequest], ChargeResult>;
  private readonly refundBreaker: CircuitBreaker<[RefundRequest], { readonly reference: string }>;
  private readonly resetTimeoutMs: number;

  constructor(provider: PaymentProvider, options: GuardOptions = {}) {
    this.name = provider.name;
    this.resetTimeoutMs = options.resetTimeoutMs ?? 10_000;
    const settings = {
      timeout: options.timeoutMs ?? 3000,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      resetTimeout: this.resetTimeoutMs,
      volumeThreshold: options.volumeThreshold ?? 5,
      rollingCountTimeout: ROLLING_WINDOW_MS,
    };
    const failingCustomers = new RecentFailures(ROLLING_WINDOW_MS);
    const minCustomers = options.minCustomersToOpen ?? 3;
    const charge = (request: ChargeRequest): Promise<ChargeResult> =>
      provider.charge(request).catch((error: unknown) => {
        throw new CustomerChargeFailure(error, request.customerId);
      });
    this.chargeBreaker = new CircuitBreaker(charge, {
      ...settings,
      // A filtered failure still fails the call; it only does not count toward opening the circuit.
      errorFilter: (error: unknown) =>
        error instanceof CustomerChargeFailure && failingCustomers.record(error.customerId, Date.now()) < minCustomers,
    });
    this.refundBreaker = new CircuitBreaker((request: RefundRequest) => provider.refund(request), settings);
  }

  get state(): CircuitState {
    const breaker = this.chargeBreaker;
    return breaker.opened ? "open" : breaker.halfOpen ? "half-open" : "closed";
  }

  charge(request: ChargeRequest): Promise<ChargeResult> {
    return this.guard(this.chargeBreaker.fire(request));
  }

  refund(request: RefundRequest): Promise<{ readonly reference: string }> {
    return this.guard(this.refundBreaker.fire(request));
  }

  private async guard<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (caught) {
      const error = caught instanceof CustomerChargeFailure ? caught.failure : caught;
      if (error instanceof PaymentProviderUnavailableError) throw error;
      const open = this.state === "open";
      throw new PaymentProviderUnavailableError(
        open
          ? "the payment provider's circuit is open"
          : `the payment provider failed: ${error instanceof Error ? error.message : String(error)}`,
        open ? Math.ceil(this.resetTimeoutMs / 1000) : 1,
      );
    }
  }
}

/** Who failed recently: the number of distinct customers with a failure inside the window. */
class RecentFailures {
  private readonly lastFailureAt = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /** Records a failure and returns how many customers failed within the window, this one included. */
  record(customerId: string, now: number): number {
    this.lastFailureAt.delete(customerId);
    this.lastFailureAt.set(customerId, now);
    // Oldest first (re-inserted on every failure), so expired entries are all at the front.
    for (const [customer, at] of this.lastFailureAt) {
      if (now - at <= this.windowMs) break;
      this.lastFailureAt.delete(customer);
    }
    return this.lastFailureAt.size;
  }
}

/** A charge's failure with the customer it was for, so that the circuit can tell whose it was. */
class CustomerChargeFailure extends Error {
  override readonly name = "CustomerChargeFailure";
  constructor(
    readonly failure: unknown,
    readonly customerId: string,
  ) {
    super(failure instanceof Error ? failure.message : String(failure));
  }
}
