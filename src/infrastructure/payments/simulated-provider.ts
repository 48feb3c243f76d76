import { randomUUID } from "node:crypto";
import {
  type ChargeRequest,
  type ChargeResult,
  type PaymentProvider,
  PaymentProviderUnavailableError,
  type RefundRequest,
} from "../../application/payment-provider.js";

export interface SimulatedProviderOptions {
  /** Added to every call, to make timeouts and overload observable. */
  readonly latencyMs?: number;
}

/**
 * A stand-in payment provider that behaves by token: `tok_ok` approves, `tok_declined` declines,
 * `tok_unavailable` fails like an outage; any other token is declined as unknown. Like a real
 * provider it is idempotent: a payment charged once is never charged again, a refund id refunds once.
 */
export class SimulatedPaymentProvider implements PaymentProvider {
  readonly name = "simulated";
  private readonly charges = new Map<string, string>();
  private readonly refunds = new Map<string, string>();
  private readonly latencyMs: number;

  constructor(options: SimulatedProviderOptions = {}) {
    this.latencyMs = options.latencyMs ?? 0;
  }

  async charge(request: ChargeRequest): Promise<ChargeResult> {
    await this.delay();
    const previous = this.charges.get(request.paymentId);
    if (previous) return { outcome: "succeeded", reference: previous };
    switch (request.token) {
      case "tok_ok": {
        const reference = `ch_${randomUUID()}`;
        this.charges.set(request.paymentId, reference);
        return { outcome: "succeeded", reference };
      }
      case "tok_declined":
        return { outcome: "declined", reason: "the card was declined" };
      case "tok_unavailable":
        throw new PaymentProviderUnavailableError("the payment provider is unavailable", 5);
      default:
        return { outcome: "declined", reason: "unknown payment token" };
    }
  }

  async refund(request: RefundRequest): Promise<{ readonly reference: string }> {
    await this.delay();
    const previous = this.refunds.get(request.refundId);
    if (previous) return { reference: previous };
    const reference = `re_${randomUUID()}`;
    this.refunds.set(request.refundId, reference);
    return { reference };
  }

  private async delay(): Promise<void> {
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
  }
}
