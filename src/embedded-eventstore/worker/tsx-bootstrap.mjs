// Development only (tsx, vitest): the worker runs the TypeScript entry through tsx. `--import tsx`
// in a worker's execArgv does not work (tsx registers its hooks on the main thread only), so the
// hooks are registered here, in the worker, before the entry is imported.
// Compiled builds (dist/) start entry.js directly and never load this file.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
