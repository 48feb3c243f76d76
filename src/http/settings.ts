import type { AdmissionOptions } from "./admission.js";
import type { TokenPolicy } from "./auth.js";

/**
 * The HTTP edge's part of the configuration. Declared here, not in src/config.ts, so that the edge
 * does not import the whole process's configuration (which names the edge's types in turn).
 */
export interface HttpSettings {
  readonly host: string;
  /** 0: any free port. */
  readonly port: number;
  readonly bodyLimitBytes: number;
  /** Load shedding of write requests (see src/http/admission.ts). */
  readonly admission: AdmissionOptions;
  /** A request body must arrive within this long (408 otherwise); headers and whole requests have their own bounds. */
  readonly bodyTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** `GET /metrics` needs this bearer token when set; without it, only loopback clients may read it. */
  readonly metricsToken: string | undefined;
}

export interface AuthSettings {
  readonly secret: string;
  /** True when no `AUTH_SECRET` was given: the caller must log a loud warning. */
  readonly usingDevelopmentSecret: boolean;
  /** What bearer tokens must satisfy: a bounded lifetime, and `iss` / `aud` when configured. */
  readonly tokens: TokenPolicy;
}
