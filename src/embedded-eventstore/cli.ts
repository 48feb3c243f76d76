import { parseArgs } from "node:util";
import { startEmbeddedEventStore } from "./index.js";

const usage = "usage: npm run eventstore -- [--port 2113] [--host 127.0.0.1] (--data <dir> | --memory)";

const main = async (): Promise<void> => {
  const { values } = parseArgs({
    options: {
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
  const store = await startEmbeddedEventStore({
    port,
    host: values.host,
    ...(values.memory ? { inMemory: true } : { dataDir: values.data }),
  });
  console.log(
    `Embedded EventStoreDB listening on ${store.connectionString} (${values.memory ? "in memory" : `data in ${values.data}`})`,
  );
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
