import { performance } from "node:perf_hooks";

/** Wall-clock microseconds since the Unix epoch, finer than Date.now() so that events written in one millisecond keep their order. */
export const clockMicros = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);

/** EventStoreDB's `created`: 100-nanosecond ticks since the Unix epoch. */
export const microsToTicks = (micros: number): string => (BigInt(micros) * 10n).toString();
