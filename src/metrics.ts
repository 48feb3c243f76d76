import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AdmissionObserver } from "./http/admission.js";

export type CircuitStateName = "closed" | "half-open" | "open";

const CIRCUIT_STATE_VALUE: Record<CircuitStateName, number> = { closed: 0, "half-open": 1, open: 2 };

/**
 * The process's Prometheus metrics (`GET /metrics`): load shedding, circuit breakers, command
 * latency and how far behind the subscriptions run. Each process has its own registry.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly inFlightGauge: Gauge;
  private readonly shedCounter: Counter<"route" | "reason">;
  private readonly commandDuration: Histogram<"command" | "outcome">;
  private readonly handlingDelay: Histogram<"group">;
  private readonly handledCounter: Counter<"group" | "outcome">;
  private readonly unpinnedChargeCounter: Counter;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.inFlightGauge = new Gauge({ name: "http_commands_in_flight", help: "Write commands being processed", registers: [this.registry] });
    this.shedCounter = new Counter({
      name: "http_commands_shed_total",
      help: "Write commands refused with 503 because the admission bounds were hit",
      labelNames: ["route", "reason"],
      registers: [this.registry],
    });
    this.commandDuration = new Histogram({
      name: "command_duration_seconds",
      help: "Time to handle a write command over HTTP, by route and outcome",
      labelNames: ["command", "outcome"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.handlingDelay = new Histogram({
      name: "subscription_lag_seconds",
      help: "Time from an event being appended to its handling by a consumer group (subscription lag)",
      labelNames: ["group"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.handledCounter = new Counter({
      name: "subscription_events_handled_total",
      help: "Events handled by consumer groups, by outcome",
      labelNames: ["group", "outcome"],
      registers: [this.registry],
    });
    this.unpinnedChargeCounter = new Counter({
      name: "reservations_charged_without_agreed_price_total",
      help: "Reservations placed with a paymentToken but no unitPrice: charged at whatever the price was when the hold landed",
      registers: [this.registry],
    });
  }

  /** Reports, when scraped, how long each stalled consumer group has had events waiting without progress. */
  stalledGroups(source: () => Record<string, number>): void {
    new Gauge({
      name: "subscription_stalled_seconds",
      help: "Consumer groups with events waiting and none handed out for longer than SUBSCRIPTION_STALL_TIMEOUT_MS: for how long (absent: not stalled)",
      labelNames: ["group"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [group, ms] of Object.entries(source())) this.set({ group }, ms / 1000);
      },
    });
  }

  unpinnedCharge(): void {
    this.unpinnedChargeCounter.inc();
  }

  /** Reports a circuit breaker's state (0 closed, 1 half-open, 2 open) whenever metrics are scraped. */
  circuit(name: string, state: () => CircuitStateName): void {
    new Gauge({
      name: `${name}_circuit_state`,
      help: `State of the ${name.replace(/_/g, " ")} circuit breaker: 0 closed, 1 half-open, 2 open`,
      registers: [this.registry],
      collect() {
        this.set(CIRCUIT_STATE_VALUE[state()]);
      },
    });
  }

  admissionObserver(): AdmissionObserver {
    return {
      inFlight: (count) => this.inFlightGauge.set(count),
      shed: (route, reason) => this.shedCounter.inc({ route, reason }),
    };
  }

  observeCommand(command: string, outcome: string, seconds: number): void {
    this.commandDuration.observe({ command, outcome }, seconds);
  }

  observeHandled(group: string, outcome: "acked" | "retried" | "parked", appendedAt: Date): void {
    this.handledCounter.inc({ group, outcome });
    if (outcome === "acked") this.handlingDelay.observe({ group }, Math.max(0, (Date.now() - appendedAt.getTime()) / 1000));
  }

  async render(): Promise<{ readonly contentType: string; readonly body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
