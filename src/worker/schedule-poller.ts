import type { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import type { Logger } from "../logger.js";
import { RepeatedWarnings } from "../repeated-warnings.js";

export interface SchedulePollerOptions {
  readonly schedule: DeadlineSchedule;
  /** Works one due entry; returns when to look at it again, or nothing when it is done. */
  readonly work: (member: string) => Promise<Date | undefined>;
  /** Runs before each pass (e.g. filling the schedule from the log once). */
  readonly beforePass?: () => Promise<void>;
  /** While false, passes are skipped (e.g. until Redis's keys are known to be this store's). */
  readonly ready?: () => boolean;
  /** Turns a failed pass's error into words (e.g. "Redis at host:port unreachable"). */
  readonly describeFailure?: (error: unknown) => string;
  /** Repeats of one failure within this window are counted, not logged one by one. */
  readonly repeatedWarningWindowMs?: number;
  readonly logger: Logger;
  /** What the schedule is for, in log lines: "hold expiry", "payment retry". */
  readonly what: string;
  readonly clock?: () => Date;
  readonly intervalMs?: number;
}

/**
 * Works a durable schedule on an interval, one pass at a time. An entry whose work throws is left
 * alone: its lease runs out and it comes back, so nothing is lost by failing.
 */
export class SchedulePoller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly clock: () => Date;
  private readonly warnings: RepeatedWarnings;

  constructor(private readonly options: SchedulePollerOptions) {
    this.clock = options.clock ?? (() => new Date());
    this.warnings = new RepeatedWarnings(options.logger, options.repeatedWarningWindowMs);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((error: unknown) => {
          const cause = this.options.describeFailure?.(error) ?? (error instanceof Error ? error.message : String(error));
          // Polled every second: an outage is one line and a count, not a line a second.
          this.warnings.warn({ cause }, `${this.options.what} poll failed: ${cause}; will retry`);
        })
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.intervalMs ?? 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    this.warnings.flush();
  }

  /** One pass over what is due; returns how many entries were worked. */
  async tick(): Promise<number> {
    if (this.options.ready && !this.options.ready()) return 0;
    await this.options.beforePass?.();
    const due = await this.options.schedule.takeDue(this.clock());
    let worked = 0;
    for (const entry of due) {
      try {
        const again = await this.options.work(entry);
        if (again) await this.options.schedule.add(entry, again);
        else await this.options.schedule.complete(entry);
        worked += 1;
      } catch (error) {
        this.options.logger.warn({ err: String(error), entry }, `could not work a due ${this.options.what} entry yet`);
      }
    }
    return worked;
  }
}
