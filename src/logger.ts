import { pino, type DestinationStream, type Logger } from "pino";
import pinoPretty from "pino-pretty";
export type { Logger } from "pino";

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SECRET_KEYS = ["authorization", "cookie", "set-cookie", "token", "paymentToken", "accessToken", "password", "secret"];

/**
 * pino's redaction takes explicit paths, not "this key anywhere": secrets are redacted at the top
 * level and up to three levels down (`req.headers.authorization`, `input.paymentToken`, ...).
 */
export const REDACTED_PATHS: readonly string[] = SECRET_KEYS.flatMap((key) => {
  const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const join = (prefix: string) => (segment.startsWith("[") ? `${prefix}${segment}` : `${prefix}.${segment}`);
  return [segment, join("*"), join("*.*"), join("*.*.*")];
});

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly name?: string;
  /** Where lines go; stdout when absent. Tests pass a stream to read them. */
  readonly destination?: DestinationStream;
  /**
   * Human-readable lines instead of JSON. Default: when stdout is a terminal, so that a person
   * running `npm start` reads sentences while a supervisor or log shipper still gets JSON.
   */
  readonly pretty?: boolean;
}

/** pino-pretty in the same thread (not a transport): lines appear in order with everything else on stdout, also under tsx. */
const prettyStream = (destination: DestinationStream | undefined): DestinationStream =>
  pinoPretty({
    colorize: destination === undefined && process.stdout.isTTY === true,
    translateTime: "SYS:HH:MM:ss.l",
    ignore: "pid,hostname,name",
    singleLine: false,
    sync: true,
    ...(destination === undefined ? {} : { destination }),
  });

export function createLogger(options: LoggerOptions): Logger {
  const settings = {
    level: options.level,
    name: options.name ?? "reservations",
    redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
  };
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  if (pretty) return pino(settings, prettyStream(options.destination));
  return options.destination === undefined ? pino(settings) : pino(settings, options.destination);
}
