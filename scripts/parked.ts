/**
 * Lists and replays the messages a consumer group parked (gave up on), for example after a long
 * Redis outage:
 *
 *   npm run parked -- list projection-mypage        one line per parked event: stream, type, reason
 *   npm run parked -- replay projection-mypage      hand them back to the group, which delivers them again
 *
 * Connects like `projections:rebuild`: EVENTSTORE_URL, else the running service's embedded server on
 * 127.0.0.1:EMBEDDED_EVENTSTORE_PORT.
 */
import { parseArgs } from "node:util";
import { EventStoreDBClient } from "@eventstore/db-client";
import { loadConfig } from "../src/config.js";
import {
  UnknownGroupError,
  listParkedMessages,
  parkedStreamOf,
  replayParkedMessages,
  type GroupSource,
  type ParkedMessage,
} from "../src/infrastructure/eventstore/parked-messages.js";
import { loadDotEnv } from "../src/env-file.js";
import { runCommand } from "./lib/run-command.js";

loadDotEnv();

const USAGE = `usage: npm run parked -- list <group> [--json] [--stream <name>]
       npm run parked -- replay <group> [--stream <name>]

  list     the group's parked events: stream@revision, type, when and why they were parked
  replay   hand every parked event back to the group; it delivers each once more
           (one that fails again is parked again)

  <group>  a persistent subscription group of the service: reservation-saga, hold-deadlines,
           notifier, notification-delivery-<channel>, projection-mypage, projection-lists,
           projection-notifications (groups on $all; --stream <name> for a group on one stream)
  --json   one JSON object per parked event instead of text

Connects to EVENTSTORE_URL, or to the service's embedded server on 127.0.0.1:EMBEDDED_EVENTSTORE_PORT.`;

class UsageError extends Error {}

interface Command {
  readonly action: "list" | "replay";
  readonly group: string;
  readonly source: GroupSource;
  readonly json: boolean;
}

function parseCommand(argv: string[]): Command | "help" {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { help: { type: "boolean", short: "h" }, json: { type: "boolean" }, stream: { type: "string" } },
  });
  if (values.help) return "help";
  const [action, group, ...extra] = positionals;
  if (action !== "list" && action !== "replay")
    throw new UsageError(action === undefined ? "name an action: list or replay" : `unknown action ${action}`);
  if (group === undefined || group === "") throw new UsageError("name a group");
  if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(" ")}`);
  const source: GroupSource = values.stream === undefined ? { kind: "all" } : { kind: "stream", stream: values.stream };
  return { action, group, source, json: values.json ?? false };
}

const describe = (message: ParkedMessage): string =>
  [
    `#${message.parkedRevision}`,
    message.stream === undefined ? "(event no longer exists)" : `${message.stream}@${message.revision}`,
    message.type ?? "-",
    message.parkedAt ?? "-",
    // EventStoreDB writes "Client explicitly NAK'ed message.\n<the consumer's reason>": one line per event here.
    message.reason?.replace(/\s*\n\s*/g, " ") ?? "(no reason recorded)",
  ].join("  ");

const asJson = (message: ParkedMessage): string =>
  JSON.stringify({
    ...message,
    parkedRevision: String(message.parkedRevision),
    revision: message.revision === undefined ? undefined : String(message.revision),
  });

async function run(command: Command, client: EventStoreDBClient): Promise<void> {
  const parkedStream = parkedStreamOf(command.source, command.group);
  const parked = await listParkedMessages(client, command.source, command.group);
  if (command.action === "list") {
    if (command.json) {
      for (const message of parked) process.stdout.write(`${asJson(message)}\n`);
      return;
    }
    for (const message of parked) process.stdout.write(`${describe(message)}\n`);
    process.stdout.write(`${parked.length} parked event(s) in group ${command.group} (${parkedStream})\n`);
    return;
  }
  await replayParkedMessages(client, command.source, command.group);
  process.stdout.write(`replayed ${parked.length} parked event(s) to group ${command.group}; it delivers them again now\n`);
}

async function main(): Promise<number> {
  let command: Command | "help";
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (command === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfig();
  const connectionString = config.eventStore.url ?? `esdb://127.0.0.1:${config.eventStore.embeddedPort}?tls=false`;
  const client = EventStoreDBClient.connectionString(connectionString);
  try {
    await run(command, client);
    return 0;
  } catch (error) {
    const message =
      error instanceof UnknownGroupError
        ? error.message
        : `failed against ${connectionString}: ${error instanceof Error ? error.message : String(error)}`;
    process.stderr.write(`${message}\n`);
    return 1;
  } finally {
    await client.dispose();
  }
}

runCommand(main);
