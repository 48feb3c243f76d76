import { ConfigError } from "../../src/config.js";

/**
 * Runs a command's `main` and exits with the code it returns. A bad configuration is one line (its
 * message names every bad variable), anything else unexpected its text: never a stack trace.
 */
export const runCommand = (main: () => Promise<number>): void => {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof ConfigError ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
};
