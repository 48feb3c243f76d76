/**
 * Prints a signed bearer token for local use:
 *   npm run -s token -- --sub alice --role customer [--ttl 3600]
 * The key is `loadConfig()`'s AUTH_SECRET, so run it with the server's environment.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { loadConfig } from "../src/config.js";
import { ROLES, signToken } from "../src/http/auth.js";
import { loadDotEnv } from "../src/env-file.js";
import { exitOnHelp } from "./lib/help.js";

loadDotEnv();

const Args = z.object({
  sub: z.string().min(1),
  role: z.enum(ROLES),
  ttl: z.coerce
    .number()
    .int()
    .min(1)
    .max(365 * 24 * 3600)
    .default(3600),
});

const USAGE = "usage: npm run -s token -- --sub <user id> --role customer|seller|admin [--ttl <seconds>]";

exitOnHelp(`${USAGE}

Prints a bearer token signed with AUTH_SECRET (from the environment or .env; the development secret
when unset), valid for --ttl seconds (default 3600). Use -s so that npm's banner stays out of it:
  T=$(npm run -s token -- --sub alice --role customer)
`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { sub: { type: "string" }, role: { type: "string" }, ttl: { type: "string" } },
    strict: true,
  });
  const args = Args.safeParse(values);
  if (!args.success) {
    const reasons = args.error.issues.map((issue) => `--${issue.path.map(String).join(".")}: ${issue.message}`);
    console.error(`${reasons.join("\n")}\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  const config = loadConfig();
  if (config.auth.usingDevelopmentSecret) {
    console.error("warning: AUTH_SECRET is unset; signing with the development secret (development only)");
  }
  const { sub, role, ttl } = args.data;
  const { maxLifetimeSeconds, issuer, audience } = config.auth.tokens;
  if (ttl > maxLifetimeSeconds) {
    console.error(
      `--ttl: the server accepts tokens living at most ${maxLifetimeSeconds} seconds (AUTH_MAX_TOKEN_LIFETIME_SECONDS)\n${USAGE}`,
    );
    process.exitCode = 2;
    return;
  }
  process.stdout.write(`${await signToken(config.auth.secret, { sub, role, ttlSeconds: ttl, issuer, audience })}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  console.error(USAGE);
  process.exitCode = 1;
});
