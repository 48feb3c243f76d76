/**
 * One data directory, one server: a second process on it is refused at start, naming the directory
 * and the holder's pid; a lock left by a SIGKILLed holder is taken over; and a storage error never
 * crashes the server (it answers that call with a gRPC error and logs a line). Real child processes.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { EventStoreDBClient, PARK, jsonEvent, persistentSubscriptionToStreamSettingsFromDefaults } from "@eventstore/db-client";
import { isRealServer, spawnEventStoreCli, uniqueStream, type CliServer } from "./support.js";
import { LOCK_FILE_NAME } from "../../src/embedded-eventstore/log/data-directory-lock.js";
import { freePort } from "../support/free-port.js";
import { runToExit } from "../support/child-service.js";

const directories: string[] = [];
const servers: CliServer[] = [];
const clients: EventStoreDBClient[] = [];

const freshDirectory = (): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "esdb-lock-"));
  directories.push(dir);
  return dir;
};

const startCli = async (dataDir: string): Promise<CliServer> => {
  const server = await spawnEventStoreCli(["--port", "0", "--data", dataDir]);
  servers.push(server);
  return server;
};

/** Runs a program to its end and returns its exit code and output. */
const runProgram = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> =>
  runToExit(args, { env: { ...process.env, FORCE_COLOR: "0", ...env } });

afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.dispose()));
  await Promise.allSettled(servers.map((server) => server.stop("SIGKILL")));
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(isRealServer)("the data directory lock (embedded only)", () => {
  it("refuses a second server on the same directory, naming the directory and the holder's pid", async () => {
    const dataDir = freshDirectory();
    const first = await startCli(dataDir);
    const holder = JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE_NAME), "utf8")) as { pid: number };
    expect(holder.pid).toBe(first.child.pid);

    const second = await runProgram([path.join("src", "embedded-eventstore", "cli.ts"), "--port", "0", "--data", dataDir]);
    expect(second.code).toBe(1);
    expect(second.output).toContain(path.resolve(dataDir));
    expect(second.output).toContain(`process ${first.child.pid}`);
    expect(second.output).not.toMatch(/\n\s+at /); // a message, not a stack trace

    // The first server is untouched by the refused start.
    const client = EventStoreDBClient.connectionString(first.connectionString);
    clients.push(client);
    await client.appendToStream(uniqueStream("lock"), jsonEvent({ type: "Still", data: {} }));

    const exit = await first.stop("SIGTERM");
    expect(exit.code === 0 || exit.signal === "SIGTERM").toBe(true);
    expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(false);
  }, 120_000);

  it("the service (src/main.ts) is refused the same way while another process holds DATA_DIR", async () => {
    const dataDir = freshDirectory();
    const holder = await startCli(dataDir);
    const service = await runProgram([path.join("src", "main.ts")], {
      DATA_DIR: dataDir,
      PORT: "0",
      EMBEDDED_EVENTSTORE_PORT: String(await freePort()),
      EVENTSTORE_URL: "",
      LOG_LEVEL: "warn",
    });
    expect(service.code).toBe(1);
    expect(service.output).toContain(`the data directory ${path.resolve(dataDir)} is in use by process ${holder.child.pid}`);
    expect(service.output).not.toMatch(/SqliteError|\n\s+at /);
    await holder.stop("SIGTERM");
  }, 120_000);

  it("takes over a lock whose holder was SIGKILLed, and keeps every event", async () => {
    const dataDir = freshDirectory();
    const first = await startCli(dataDir);
    const stream = uniqueStream("lock-takeover");
    const firstClient = EventStoreDBClient.connectionString(first.connectionString);
    await firstClient.appendToStream(stream, jsonEvent({ type: "BeforeKill", data: {} }));
    await firstClient.dispose();
    await first.stop("SIGKILL");
    // The dead holder's lock is still there: only its liveness says it is stale.
    expect(JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE_NAME), "utf8"))).toMatchObject({ pid: first.child.pid });

    const second = await startCli(dataDir);
    expect(JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE_NAME), "utf8"))).toMatchObject({ pid: second.child.pid });
    const client = EventStoreDBClient.connectionString(second.connectionString);
    clients.push(client);
    await client.appendToStream(stream, jsonEvent({ type: "AfterKill", data: {} }));
    const types: string[] = [];
    for await (const resolved of client.readStream(stream)) types.push(resolved.event?.type ?? "");
    expect(types).toEqual(["BeforeKill", "AfterKill"]);
  }, 120_000);
});

describe.skipIf(isRealServer)("storage errors (embedded only)", () => {
  it("a failing checkpoint, park or delete answers that call with an error and a log line; the server keeps serving", async () => {
    const dataDir = freshDirectory();
    const server = await startCli(dataDir);
    const client = EventStoreDBClient.connectionString(server.connectionString);
    clients.push(client);
    const stream = uniqueStream("storage-fault");
    const group = "faulty";
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ checkPointLowerBound: 1, checkPointUpperBound: 1, maxRetryCount: 0 }),
    );
    // Another writer breaks the disk under the server: every write of a persistent subscription's
    // own streams, and of any stream's metadata, now fails in SQLite.
    const saboteur = new Database(path.join(dataDir, "eventstore.sqlite3"));
    saboteur.exec(
      `CREATE TRIGGER broken_disk BEFORE INSERT ON events
       WHEN NEW.stream LIKE '$persistentsubscription-%' OR NEW.stream LIKE '$$%'
       BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
    );
    saboteur.close();

    await client.appendToStream(stream, [jsonEvent({ type: "Ack", data: {} }), jsonEvent({ type: "Park", data: {} })]);
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
    let handled = 0;
    for await (const event of subscription) {
      // The ack forces a checkpoint write (upper bound 1); the nack asks for a park write.
      if (event.event?.type === "Ack") await subscription.ack(event);
      else await subscription.nack(PARK, "poison", event);
      handled += 1;
      if (handled >= 2) break;
    }
    await subscription.unsubscribe();

    await expect(client.deleteStream(stream)).rejects.toThrow(/Storage error: disk says no/);

    // Still alive and serving.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.child.exitCode).toBeNull();
    await client.appendToStream(stream, jsonEvent({ type: "After", data: {} }));
    const logged = server
      .stderr()
      .split("\n")
      .filter((line) => line.includes("storage error during"));
    expect(logged.some((line) => line.includes("checkpoint of group faulty"))).toBe(true);
    expect(logged.some((line) => line.includes("parking a message of group faulty"))).toBe(true);
    expect(logged.some((line) => line.includes("during delete"))).toBe(true);
  }, 120_000);
});

describe.skipIf(isRealServer)("the data directory lock in one process (embedded only)", () => {
  it("refuses a second log on a directory this process holds, and takes over one left by an earlier process with the same pid", async () => {
    const { EventLog } = await import("../../src/embedded-eventstore/log/event-log.js");
    const { writeFileSync } = await import("node:fs");
    const { hostname } = await import("node:os");
    const dataDir = freshDirectory();
    const first = new EventLog({ dataDir });
    expect(() => new EventLog({ dataDir })).toThrow(`in use by process ${process.pid}`);
    first.close();

    // A container restarted on the same volume: same hostname, same pid (1), but another process.
    writeFileSync(
      path.join(dataDir, LOCK_FILE_NAME),
      JSON.stringify({ pid: process.pid, host: hostname(), token: "earlier", since: "", processStarted: Date.now() - 86_400_000 }),
    );
    const second = new EventLog({ dataDir });
    expect(JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE_NAME), "utf8"))).not.toMatchObject({ token: "earlier" });
    second.close();
    expect(existsSync(path.join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });
});
