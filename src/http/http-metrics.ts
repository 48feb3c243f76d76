import type { AdmissionObserver } from "./admission.js";

/**
 * What the HTTP edge records and serves. The process's Prometheus registry (src/metrics.ts)
 * implements it; the edge names only this, so that the registry may depend on the edge's types.
 */
export interface HttpMetrics {
  observeCommand(command: string, outcome: string, seconds: number): void;
  admissionObserver(): AdmissionObserver;
  /** A reservation was placed with a payment token but no agreed unit price. */
  unpinnedCharge(): void;
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}
