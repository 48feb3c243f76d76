export interface WaitLimit {
  readonly waitTimeoutMs: number;
  /** The error a task gets when it could not start in time; it then never runs. */
  readonly onTimeout: () => Error;
}

/** Runs tasks one at a time per key, in arrival order; keys without waiting tasks hold no memory. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>, limit?: WaitLimit): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    // Tails always settle successfully, so `previous` never rejects.
    const execution = previous.then(() => {
      clearTimeout(timer);
      return timedOut ? undefined : task();
    });
    const tail = execution.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    if (!limit) return execution as Promise<T>;
    return new Promise<T>((resolve, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(limit.onTimeout());
      }, limit.waitTimeoutMs);
      execution.then(
        (value) => {
          if (!timedOut) resolve(value as T);
        },
        (error: unknown) => {
          if (!timedOut) reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}
