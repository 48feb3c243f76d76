import { accessSync, constants } from "node:fs";
import path from "node:path";

/**
 * The `redis-server` executable on `PATH`, or undefined. A package that builds or downloads Redis
 * (redis-memory-server) was considered and left out: its install step downloads and compiles Redis,
 * which cannot work on machines without internet access, and it runs throwaway servers without
 * persistence, which is the opposite of what a managed read-model store needs.
 */
export const findRedisServer = (searchPath: string = process.env.PATH ?? ""): string | undefined => {
  for (const folder of searchPath.split(path.delimiter)) {
    if (folder === "") continue;
    const candidate = path.join(folder, "redis-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
};

/** How to get `redis-server` on this platform, as one command the user can paste. */
export const redisInstallHint = (platform: NodeJS.Platform = process.platform): string =>
  platform === "darwin"
    ? "brew install redis"
    : platform === "linux"
      ? "sudo apt-get install redis-server (or your distribution's redis package)"
      : "install Redis 6 or later";
