/**
 * The embedded server has no logger of its own (it runs in a worker thread or as the bare CLI), so
 * a storage fault it survives is reported as one JSON line on stderr, in pino's shape, where the
 * service's own log and a supervisor's capture both see it.
 */
export const reportStorageFault = (operation: string, error: unknown): void => {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof Error && "code" in error ? String((error as { code: unknown }).code) : undefined;
  process.stderr.write(
    `${JSON.stringify({
      level: 50,
      time: Date.now(),
      pid: process.pid,
      name: "embedded-eventstore",
      operation,
      err: { message, ...(code === undefined ? {} : { code }) },
      msg: `embedded event store: storage error during ${operation} (the server keeps running): ${message}`,
    })}\n`,
  );
};
