import type { DeadlineSchedule } from "../infrastructure/deadline-schedule.js";
import type { Logger } from "../logger.js";

export interface SchedulePollerOptions {
  readonly schedule: DeadlineSchedule;
  /** Works one due entry; returns when to look at it again, or nothing when it is done. */
  readonly work: (member: string) => Promise<Date | undefined>;
  /** Runs before each pass (e.g. filling the schedule from the log once). */
  readonly beforePass?: () => Promise<void>;
  readonly logger: Logger;
  /** What the entries are, for log lines: "expired hold", "payment retry". */
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

  constructor(private readonly options: SchedulePollerOptions) {
    this.clock = options.clock ?? (() => new Date());
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((error: unknown) => this.options.logger.warn({ err: String(error) }, `${this.options.what} poll failed; will retry`))
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.intervalMs ?? 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass over what is due; returns how many entries were worked. */
  async tick(): Promise<number> {
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
        this.options.logger.warn({ err: String(error), entry }, `could not work a due ${this.options.what} yet`);
      }
    }
    return worked;
  }
}
