import { parseArgs } from "node:util";
import { type RunProjections, runsStandardProjections, startEmbeddedEventStore } from "./index.js";

const usage =
  "usage: npm run eventstore -- [--port 2113] [--host 127.0.0.1] (--data <dir> | --memory)" +
  " [--run-projections None|System|All] [--start-standard-projections[=true|false]]";

const RUN_PROJECTIONS: readonly RunProjections[] = ["None", "System", "All"];

/** EventStoreDB's option values are case-insensitive. */
const parseRunProjections = (value: string | undefined): RunProjections | undefined => {
  if (value === undefined) return undefined;
  const found = RUN_PROJECTIONS.find((option) => option.toLowerCase() === value.toLowerCase());
  if (!found) throw new Error(`invalid --run-projections ${value}\n${usage}`);
  return found;
};

const parseBoolean = (name: string, value: string | undefined): boolean | undefined => {
  if (value === undefined) return undefined;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new Error(`invalid --${name} ${value}\n${usage}`);
};

/** A bare `--start-standard-projections` means true, as on the server. */
const withFlagValues = (args: readonly string[]): string[] =>
  args.map((arg) => (arg === "--start-standard-projections" ? "--start-standard-projections=true" : arg));

const main = async (): Promise<void> => {
  const { values } = parseArgs({
    args: withFlagValues(process.argv.slice(2)),
    options: {
      "run-projections": { type: "string" },
      "start-standard-projections": { type: "string" },
      port: { type: "string", default: "2113" },
      host: { type: "string", default: "127.0.0.1" },
      data: { type: "string" },
      memory: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --port ${values.port}\n${usage}`);
  if (!values.memory && values.data === undefined) throw new Error(`give --data <dir> or --memory\n${usage}`);
  const runProjections = parseRunProjections(values["run-projections"]);
  const startStandardProjections = parseBoolean("start-standard-projections", values["start-standard-projections"]);
  const projections = {
    ...(runProjections ? { runProjections } : {}),
    ...(startStandardProjections === undefined ? {} : { startStandardProjections }),
  };
  const store = await startEmbeddedEventStore({
    port,
    host: values.host,
    ...(values.memory ? { inMemory: true } : { dataDir: values.data }),
    ...projections,
  });
  const where = values.memory ? "in memory" : `data in ${values.data}`;
  const running = runsStandardProjections(projections) ? "standard projections running" : "projections off";
  console.log(`Embedded EventStoreDB listening on ${store.connectionString} (${where}, ${running})`);
  console.log(`Stream browser and HTTP API on http://${values.host}:${store.port}/web/`);
  const shutdown = (): void => {
    void store.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
};

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
