import type { EventLog } from "../log/event-log.js";

interface CancellableCall {
  readonly cancelled: boolean;
  once(event: "cancelled" | "close" | "error", listener: () => void): unknown;
  write(message: unknown): boolean;
  once(event: "drain", listener: () => void): unknown;
}

/**
 * Tracks whether a streaming call is still wanted, and lets a long-running producer wait
 * for room in the transport or for new events without leaking listeners when the client goes away.
 */
export class CallLifetime {
  private ended = false;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly call: CancellableCall) {
    const end = (): void => {
      this.ended = true;
      for (const wake of [...this.waiters]) wake();
      this.waiters.clear();
    };
    call.once("cancelled", end);
    call.once("close", end);
    call.once("error", end);
  }

  get active(): boolean {
    return !this.ended && !this.call.cancelled;
  }

  /** Writes and, when the transport buffer is full, waits until it drains (or the call ends). */
  async write(message: unknown): Promise<void> {
    if (!this.active) return;
    if (this.call.write(message)) return;
    await this.until((wake) => this.call.once("drain", wake));
  }

  /** Resolves when the log grows past `position`, or the call ends. */
  async waitForAppend(log: EventLog, position: number): Promise<void> {
    if (log.headPosition() > position) return;
    let unsubscribe = (): void => undefined;
    await this.until((wake) => {
      unsubscribe = log.onAppended(wake);
    });
    unsubscribe();
  }

  /** Resolves after `ms` or when the call ends. */
  async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await this.until((wake) => {
      timer = setTimeout(wake, ms);
    });
    clearTimeout(timer);
  }

  private until(arm: (wake: () => void) => void): Promise<void> {
    if (!this.active) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let done = false;
      const wake = (): void => {
        if (done) return;
        done = true;
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
      arm(wake);
    });
  }
}
