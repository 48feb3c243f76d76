import type { EmbeddedEventStoreOptions } from "../index.js";

/** What the host passes to the worker as `workerData`. */
export interface WorkerStart {
  readonly options: EmbeddedEventStoreOptions;
  /** Set by the development bootstrap: the TypeScript entry to import once tsx is registered. */
  readonly entry?: string;
}

export type HostMessage = { readonly kind: "stop" };

export type WorkerMessage =
  | { readonly kind: "listening"; readonly port: number; readonly connectionString: string; readonly threadId: number }
  | { readonly kind: "failed"; readonly name: string; readonly message: string; readonly stack: string | undefined }
  | { readonly kind: "stopped" };
