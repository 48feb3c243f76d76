/**
 * The worker thread that runs the whole embedded server (gRPC and SQLite), so that its storage work
 * never blocks the event loop of the API that started it. Started by `host.ts`.
 */
import { parentPort, workerData } from "node:worker_threads";
import { startEmbeddedEventStore } from "../index.js";
import type { HostMessage, WorkerMessage, WorkerStart } from "./protocol.js";

const port = parentPort;
if (!port) throw new Error("the embedded event store's worker entry must run in a worker thread");
const post = (message: WorkerMessage): void => port.postMessage(message);
const { options } = workerData as WorkerStart;

try {
  const store = await startEmbeddedEventStore(options);
  port.on("message", (message: HostMessage) => {
    if (message.kind !== "stop") return;
    void store.stop().then(() => post({ kind: "stopped" }));
  });
  post({ kind: "listening", port: store.port, connectionString: store.connectionString, threadId: store.threadId });
} catch (error) {
  // A start failure (port taken, unreadable data directory) is the host's to report, not a crash.
  post({
    kind: "failed",
    // The name survives the thread boundary so that the host can tell a locked directory from a crash.
    name: error instanceof Error ? error.name : "Error",
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
}
