/**
 * Child processes for tests and benchmarks that must see the system as separate programs: the
 * embedded EventStoreDB and the service, through the shared harness (tests/support/child-service.ts).
 */
import {
  repoRoot,
  serviceUrl,
  spawnServiceChild,
  startEventStoreChild,
  type Child,
  type EventStoreChild,
  type LogLine,
} from "../support/child-service.js";
import { freePort } from "../support/free-port.js";

export { freePort, repoRoot, type LogLine };

export type ChildHandle = Child;
export type EventStoreProcess = EventStoreChild;

export interface AppProcess extends Child {
  readonly url: string;
  /** How many log lines the process wrote (access log lines included). */
  lineCount(): number;
}

/** `node --import tsx src/embedded-eventstore/cli.ts --port 0 --memory` (or `--data <dir>`). */
export const startEventStoreProcess = (options: { dataDir?: string; timeoutMs?: number } = {}): Promise<EventStoreProcess> =>
  startEventStoreChild({ ...options, keepLines: 2000 });

/**
 * `node --import tsx src/main.ts` with `env` over the caller's environment; resolves with the URL
 * from its `reservations API listening on <url>` log line (so `LOG_LEVEL` must be info or lower).
 * With `options.url` (the caller chose `PORT`), it polls `<url>/health/live` instead, so any
 * `LOG_LEVEL` works.
 */
export async function startAppProcess(env: NodeJS.ProcessEnv, options: { timeoutMs?: number; url?: string } = {}): Promise<AppProcess> {
  let count = 0;
  const child = spawnServiceChild("service", { PORT: "0", ...env }, { keepLines: 200, onLine: () => (count += 1) });
  const timeoutMs = options.timeoutMs ?? 90_000;
  const url = await serviceUrl(child, timeoutMs, options.url === undefined ? undefined : { url: options.url, intervalMs: 200 });
  return { ...child, url, lineCount: () => count };
}
