import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { EmbeddedEventStore, EmbeddedEventStoreOptions } from "../index.js";
import type { HostMessage, WorkerMessage, WorkerStart } from "./protocol.js";

export interface WorkerEventStoreOptions extends EmbeddedEventStoreOptions {
  /**
   * Called if the worker dies after it started (an uncaught error in the server, or an exit that
   * `stop()` did not ask for). The server is gone then; every call to it fails.
   */
  readonly onCrash?: (error: Error) => void;
}

/** How to start the worker: compiled JavaScript as is, TypeScript through tsx. */
const workerLaunch = (options: EmbeddedEventStoreOptions): { url: URL; workerData: WorkerStart } => {
  const compiled = new URL("./entry.js", import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { url: compiled, workerData: { options } };
  return {
    url: new URL("./tsx-bootstrap.mjs", import.meta.url),
    workerData: { options, entry: new URL("./entry.ts", import.meta.url).href },
  };
};

const PRELOAD_FLAGS = new Set(["--import", "--require", "-r", "--loader", "--experimental-loader"]);

/**
 * The worker runs compiled code or bootstraps its own TypeScript loader (tsx-bootstrap.mjs): modules
 * the main thread preloads (a benchmark's `--import ./setup.ts`, tsx's own hooks) are not its business,
 * and one written in TypeScript would not even load there.
 */
const withoutPreloads = (execArgv: readonly string[]): string[] => {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i += 1) {
    const flag = execArgv[i] ?? "";
    if (PRELOAD_FLAGS.has(flag)) {
      i += 1;
      continue;
    }
    if ([...PRELOAD_FLAGS].some((name) => flag.startsWith(`${name}=`))) continue;
    kept.push(flag);
  }
  return kept;
};

/**
 * Starts the embedded server (gRPC and SQLite) in a worker thread, so that its commits and reads
 * run on another core than the caller's event loop. Resolves once it accepts connections; the
 * port (0 picks a free one) and connection string come from the worker.
 */
export const startEmbeddedEventStoreInWorker = (options: WorkerEventStoreOptions = {}): Promise<EmbeddedEventStore> => {
  const { onCrash, ...storeOptions } = options;
  const launch = workerLaunch(storeOptions);
  const worker = new Worker(launch.url, { workerData: launch.workerData, execArgv: withoutPreloads(process.execArgv) });
  const send = (message: HostMessage): void => worker.postMessage(message);

  return new Promise<EmbeddedEventStore>((resolve, reject) => {
    let started = false;
    let stopping: Promise<void> | undefined;
    let resolveStopped: (() => void) | undefined;

    const crashed = (error: Error): void => {
      if (!started) reject(error);
      else if (!stopping) (onCrash ?? rethrow)(error);
      resolveStopped?.();
    };
    worker.on("error", crashed);
    worker.on("exit", (code) => {
      if (stopping) resolveStopped?.();
      else crashed(new Error(`the embedded event store's worker exited with code ${code}`));
    });
    worker.on("message", (message: WorkerMessage) => {
      switch (message.kind) {
        case "listening":
          started = true;
          resolve({
            port: message.port,
            connectionString: message.connectionString,
            threadId: message.threadId,
            stop: () => {
              stopping ??= new Promise<void>((stopped) => {
                resolveStopped = stopped;
                send({ kind: "stop" });
              });
              return stopping;
            },
          });
          break;
        case "failed": {
          const error = new Error(message.message);
          error.name = message.name;
          if (message.stack) error.stack = message.stack;
          stopping = Promise.resolve();
          // Rejected only once the thread is gone, so that a failed start leaves nothing behind.
          void worker.terminate().then(() => reject(error));
          break;
        }
        case "stopped":
          // Everything is flushed and closed: nothing is lost by ending the thread now.
          void worker.terminate();
          break;
      }
    });
  });
};

/** Without a handler, a crash of the store is a crash of the process: an API without its store must not look healthy. */
const rethrow = (error: Error): void => {
  process.nextTick(() => {
    throw error;
  });
};
