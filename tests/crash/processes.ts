/**
 * Child processes of the crash test: the embedded EventStoreDB (long-lived, never killed) and the
 * service, which the test SIGKILLs and starts again, through the shared harness
 * (tests/support/child-service.ts), whose `killAllChildren()` leaves nothing running.
 */
import {
  ChildExitedError,
  apiListeningUrl,
  killAllChildren,
  parseLogLine,
  repoRoot,
  spawnServiceChild,
  startEventStoreChild as startChild,
  type Child,
  type EventStoreChild,
  type LogLine,
} from "../support/child-service.js";
import { freePort } from "../support/free-port.js";

export { ChildExitedError, freePort, killAllChildren, repoRoot, type Child, type EventStoreChild, type LogLine };

const WORKER_STARTED = "worker started";

/** `node --import tsx src/embedded-eventstore/cli.ts --port 0 --data <dir>`. */
export const startEventStoreChild = (dataDir: string, timeoutMs = 60_000): Promise<EventStoreChild> => startChild({ dataDir, timeoutMs });

export type ServiceRole = "all" | "api" | "worker";

export interface ServiceChild extends Child {
  readonly role: ServiceRole;
  /** Resolves once the process logged that it is ready (its URL for api/all). */
  readonly ready: Promise<string | undefined>;
}

/**
 * Spawns `node --import tsx src/main.ts` with `env`. Does not wait: `ready` resolves with the API's
 * URL (roles api/all) or undefined (worker) once the process logged so, and rejects with
 * `ChildExitedError` when it dies first (the crash test kills processes while they start, too).
 */
export function spawnService(role: ServiceRole, env: NodeJS.ProcessEnv, timeoutMs = 60_000): ServiceChild {
  // A worker serves its own health endpoints: give it a free port of its own, not the API's.
  const child = spawnServiceChild(`service(${role})`, {
    ...env,
    ROLE: role,
    ...(role === "worker" ? { PORT: "0" } : {}),
  });
  const ready = child.waitFor<string | undefined>(
    (line) => {
      if (role !== "worker") return apiListeningUrl(line);
      const message = parseLogLine(line)?.msg;
      return typeof message === "string" && message.startsWith(WORKER_STARTED) ? "" : undefined;
    },
    timeoutMs,
    `the service (ROLE=${role})`,
  );
  const readyUrl = ready.then((url) => (url === "" ? undefined : url));
  // A process killed while starting rejects `ready`; whoever awaits it handles that.
  readyUrl.catch(() => undefined);
  return { ...child, role, ready: readyUrl };
}
