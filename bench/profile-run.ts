/**
 * Loads one service configuration under `node --cpu-prof` and leaves its profiles (the main thread's
 * and the embedded store's worker thread's) in a folder, for `npm run -s profile:summary`.
 *
 *   npm run -s profile:run -- --role api|all --shape uncontended|hot [--duration 10] [--out profiles]
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { buildService } from "./lib/processes.js";
import { measureReservations, type Role, type Shape } from "./lib/reservation-load.js";

exitOnHelp(`
usage: npm run -s profile:run -- --role api|all --shape uncontended|hot [--duration 10] [--out profiles]

Loads the compiled service under node --cpu-prof and leaves the main and store threads' profiles in --out.
`);

const { values } = parseArgs({
  options: {
    role: { type: "string", default: "api" },
    shape: { type: "string", default: "uncontended" },
    duration: { type: "string", default: "10" },
    out: { type: "string", default: "profiles" },
  },
});
const out = path.resolve(values.out);
mkdirSync(out, { recursive: true });
buildService();
const result = await measureReservations({
  role: values.role as Role,
  shape: values.shape as Shape,
  connections: 32,
  durationS: Number(values.duration),
  warmupS: 2,
  logLevel: "warn",
  products: 50,
  progress: (message) => process.stderr.write(`${message}\n`),
  // Every thread of the service (the main one and the embedded store's) writes a profile on exit.
  nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${out}`],
});
console.log(`${result.perSecond.toFixed(0)} req/s, service CPU ${result.serviceCpuPercent.toFixed(0)}%; profiles in ${out}`);
