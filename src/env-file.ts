import { existsSync } from "node:fs";
import { resolve } from "node:path";

/**
 * Loads `.env` from the working directory when there is one, for `npm start`, `npm run dev` and the
 * scripts alike. In code rather than `node --env-file-if-exists`: that flag is missing from early
 * Node 20 releases, is refused in NODE_OPTIONS, and warns on every start without a file. Variables
 * already in the environment win, as with `--env-file`.
 */
export const loadDotEnv = (file = ".env"): string | undefined => {
  const path = resolve(file);
  if (!existsSync(path)) return undefined;
  process.loadEnvFile(path);
  return path;
};
