import { ConfigError, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { startService } from "./service.js";

const main = async (): Promise<void> => {
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel });
  const service = await startService(config, logger);
  if (config.role === "worker") {
    logger.info({ url: service.url, role: config.role }, `worker started (health and metrics on ${service.url})`);
  } else {
    logger.info(
      { url: service.url, role: config.role },
      `reservations API listening on ${service.url} (get a token: npm run token -- --sub alice --role customer)`,
    );
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", () => stop("SIGINT"));
  process.once("SIGTERM", () => stop("SIGTERM"));
};

main().catch((error: unknown) => {
  // Configuration mistakes are the user's to fix: say what is wrong without a stack trace.
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
