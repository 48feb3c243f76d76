/**
 * Group commit of the embedded server (embedded only: it is about this server's storage, not the
 * protocol). Appends queued in the same turn of the event loop are written as one SQLite
 * transaction, each checked as if the earlier ones of its group had been committed alone.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { EventStoreDBClient, UnknownError, WrongExpectedVersionError, jsonEvent } from "@eventstore/db-client";
import { EventLog } from "../../src/embedded-eventstore/log/event-log.js";
import { GroupCommit } from "../../src/embedded-eventstore/log/group-commit.js";
import type { ExpectedRevision, ProposedEvent } from "../../src/embedded-eventstore/log/types.js";
import { startEmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { FORCE_APPEND_RPC, isRealServer, readStreamEvents, rejectionOf } from "./support.js";

const proposed = (id: string = crypto.randomUUID()): ProposedEvent => ({
  id,
  type: "GroupEvent",
  contentType: "application/json",
  data: Buffer.from("{}"),
  metadata: new Uint8Array(0),
});
const revision = (value: number): ExpectedRevision => ({ kind: "revision", revision: value });

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/** A durable log in a fresh directory, with a count of committed groups (one notification each). */
const durableLog = (): { log: EventLog; dataDir: string; groups: () => number } => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "group-commit-"));
  const log = new EventLog({ dataDir });
  let groups = 0;
  log.onAppended(() => (groups += 1));
  cleanups.push(() => {
    log.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { log, dataDir, groups: () => groups };
};

describe.skipIf(isRealServer)("group commit", () => {
  it("appends queued in one turn are committed as one group, each checked after the earlier ones", async () => {
    const { log, groups } = durableLog();
    const commits = new GroupCommit(log);
    log.append("s", { kind: "no_stream" }, [proposed()]); // revision 0
    const before = groups();

    const outcomes = await Promise.all([
      commits.append({ streamId: "s", expected: revision(0), events: [proposed()] }),
      commits.append({ streamId: "s", expected: revision(1), events: [proposed()] }),
      commits.append({ streamId: "s", expected: revision(1), events: [proposed()] }),
      commits.append({ streamId: "other", expected: { kind: "no_stream" }, events: [proposed()] }),
      commits.append({ streamId: "other", expected: { kind: "no_stream" }, events: [proposed()] }),
    ]);

    expect(groups() - before).toBe(1);
    expect(outcomes.map((outcome) => outcome.kind)).toEqual([
      "success",
      "success",
      "wrong_expected_version",
      "success",
      "wrong_expected_version",
    ]);
    expect(outcomes[1]).toMatchObject({ kind: "success", revision: 2 });
    expect(outcomes[2]).toMatchObject({ kind: "wrong_expected_version", current: 2, expected: revision(1) });
    expect(outcomes[4]).toMatchObject({ kind: "wrong_expected_version", current: 0 });
    expect(log.streamInfo("s").last).toBe(2);
  });

  it("a retry of the same event ids within one group is idempotent, as across groups", async () => {
    const { log } = durableLog();
    const commits = new GroupCommit(log);
    const ids = [crypto.randomUUID(), crypto.randomUUID()];
    const events = ids.map((id) => proposed(id));

    const [first, retryNoStream, retryAny, partial] = await Promise.all([
      commits.append({ streamId: "s", expected: { kind: "no_stream" }, events }),
      commits.append({ streamId: "s", expected: { kind: "no_stream" }, events }),
      commits.append({ streamId: "s", expected: { kind: "any" }, events }),
      commits.append({ streamId: "s", expected: { kind: "any" }, events: [proposed(ids[0]), proposed()] }),
    ]);

    expect(first).toMatchObject({ kind: "success", revision: 1 });
    expect(retryNoStream).toEqual(first);
    expect(retryAny).toEqual(first);
    expect(partial).toMatchObject({ kind: "wrong_expected_version" });
    expect(log.streamInfo("s").last).toBe(1);
  });

  it("nobody sees a queued append before its group is committed", async () => {
    const { log } = durableLog();
    const commits = new GroupCommit(log);
    const pending = commits.append({ streamId: "s", expected: { kind: "any" }, events: [proposed()] });
    expect(log.readStream("s", "start", "forwards", 10)).toBe("not_found");
    expect(log.readAll(0, "forwards", 100).some((event) => event.streamId === "s")).toBe(false);
    await pending;
    expect(log.readStream("s", "start", "forwards", 10)).toHaveLength(1);
  });

  it("a storage error fails only the append it hit; the rest of its group is committed", async () => {
    const { log, dataDir } = durableLog();
    const commits = new GroupCommit(log);
    // A second connection to the same file makes inserts into one stream fail, as a full disk would.
    const saboteur = new Database(path.join(dataDir, "eventstore.sqlite3"));
    saboteur.exec(
      `CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.stream = 'poison' BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
    );
    saboteur.close();

    const results = await Promise.allSettled([
      commits.append({ streamId: "good", expected: { kind: "no_stream" }, events: [proposed()] }),
      commits.append({ streamId: "poison", expected: { kind: "any" }, events: [proposed(), proposed()] }),
      commits.append({ streamId: "good", expected: revision(0), events: [proposed()] }),
    ]);

    expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(results[2]).toMatchObject({ value: { kind: "success", revision: 1 } });
    expect(log.readStream("poison", "start", "forwards", 10)).toBe("not_found");
    // Positions stay dense and the log keeps working after the failure.
    const next = await commits.append({ streamId: "good", expected: revision(1), events: [proposed()] });
    expect(next).toMatchObject({ kind: "success", revision: 2 });
    const all = log.readAll(0, "forwards", 1000);
    expect(all.map((event) => event.streamId)).toEqual(["good", "good", "good"]);
  });

  it("through the server: a storage error answers the calls it hit with a gRPC error; the server keeps serving", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "group-commit-server-"));
    const store = await startEmbeddedEventStore({ port: 0, dataDir });
    const client = EventStoreDBClient.connectionString(store.connectionString);
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    try {
      const saboteur = new Database(path.join(dataDir, "eventstore.sqlite3"));
      saboteur.exec(
        `CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.stream = 'poison' BEGIN SELECT RAISE(ABORT, 'disk says no'); END`,
      );
      saboteur.close();
      const event = () => jsonEvent({ type: "GroupEvent", data: {} });

      const [poisoned, fine] = await Promise.allSettled([client.appendToStream("poison", event()), client.appendToStream("fine", event())]);
      expect(poisoned).toMatchObject({ status: "rejected", reason: expect.any(UnknownError) });
      expect(fine.status).toBe("fulfilled");
      const viaAppend = await rejectionOf(client.appendToStream("poison", event(), FORCE_APPEND_RPC));
      expect(viaAppend.message).toMatch(/disk says no/);

      await client.appendToStream("fine", event());
      expect(await readStreamEvents(client, "fine")).toHaveLength(2);
    } finally {
      await client.dispose();
      await store.stop();
    }
  });

  it("through the client: many concurrent appends to one stream with exact revisions each succeed exactly once", async () => {
    const store = await startEmbeddedEventStore({ port: 0, inMemory: true });
    const client = EventStoreDBClient.connectionString(store.connectionString);
    try {
      await client.appendToStream("contended", jsonEvent({ type: "GroupEvent", data: {} }), { expectedRevision: "no_stream" });
      // Every writer claims revision 0 at once: exactly one wins, whichever group it lands in.
      const attempts = await Promise.allSettled(
        Array.from({ length: 32 }, () =>
          client.appendToStream("contended", jsonEvent({ type: "GroupEvent", data: {} }), { expectedRevision: 0n }),
        ),
      );
      expect(attempts.filter((attempt) => attempt.status === "fulfilled")).toHaveLength(1);
      expect(
        attempts.filter((attempt) => attempt.status === "rejected" && attempt.reason instanceof WrongExpectedVersionError),
      ).toHaveLength(31);
      expect(await readStreamEvents(client, "contended")).toHaveLength(2);
    } finally {
      await client.dispose();
      await store.stop();
    }
  });
});
