import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { startService } from "./service.js";
import { loadDotEnv } from "./env-file.js";

/** A second signal within this long of the first is a duplicate delivery, not an order to hurry. */
const REPEATED_SIGNAL_GRACE_MS = 1000;

const main = async (): Promise<void> => {
  loadDotEnv();
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const service = await startService(config, logger);
  if (config.role === "worker") {
    logger.info({ url: service.url, role: config.role }, `worker started (health and metrics on ${service.url})`);
  } else {
    logger.info(
      { url: service.url, role: config.role },
      `reservations API listening on ${service.url} (get a token: npm run -s token -- --sub alice --role customer)`,
    );
  }
  let stoppingSince: number | undefined;
  const stop = (signal: NodeJS.Signals): void => {
    if (stoppingSince !== undefined) {
      // Under `npm start`, one Ctrl-C arrives twice (from the terminal and relayed by npm), so a
      // repeat right away is the same request; a later one means the user wants out now.
      if (Date.now() - stoppingSince < REPEATED_SIGNAL_GRACE_MS) return;
      logger.warn({ signal }, "stopping now, without waiting for a clean shutdown");
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.info({ signal }, "stopping");
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
};

/** Mistakes that are the user's to fix: said without a stack trace. */
const isUsersToFix = (error: unknown): error is Error =>
  error instanceof ConfigError || (error instanceof Error && error.name === "DataDirectoryLockedError");

main().catch((error: unknown) => {
  console.error(isUsersToFix(error) ? error.message : error);
  process.exit(1);
});
