/**
 * `npm run parked -- list|replay <group>` against the embedded store: a group on `$all` (as every
 * consumer group of the service is) parks events with a reason; the command lists them with stream,
 * type and reason, replays them, and the group delivers them again.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  EventStoreDBClient,
  PARK,
  START,
  jsonEvent,
  persistentSubscriptionToAllSettingsFromDefaults,
  streamNameFilter,
} from "@eventstore/db-client";
import type { EmbeddedEventStore } from "../../src/embedded-eventstore/index.js";
import { useEmbeddedStore } from "../support/embedded-store.js";
import { repoRoot } from "../crash/processes.js";

let store: EmbeddedEventStore;
let client: EventStoreDBClient;

useEmbeddedStore((started) => ({ server: store, client } = started));

const parked = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join("scripts", "parked.ts"), ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, EVENTSTORE_URL: store.connectionString, FORCE_COLOR: "0" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });

/** Subscribes to the group and settles `count` events with `settle`, returning what arrived. */
const consume = async (group: string, count: number, settle: "park" | "ack"): Promise<{ stream: string; type: string }[]> => {
  const subscription = client.subscribeToPersistentSubscriptionToAll(group);
  const seen: { stream: string; type: string }[] = [];
  for await (const resolved of subscription) {
    const event = resolved.event;
    if (event) seen.push({ stream: event.streamId, type: event.type });
    if (settle === "park") await subscription.nack(PARK, `Redis at 127.0.0.1:6379 unreachable (${event?.type})`, resolved);
    else await subscription.ack(resolved);
    if (seen.length >= count) break;
  }
  await subscription.unsubscribe();
  return seen;
};

describe("npm run parked", () => {
  it("--help prints the usage and exits 0", async () => {
    const { code, stdout } = await parked(["--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/usage: npm run parked -- list <group>/);
    expect(stdout).toMatch(/replay <group>/);
  }, 60_000);

  it("refuses a bad command with the usage (exit 2), and an unknown group naming the existing ones (exit 1)", async () => {
    const bad = await parked(["frobnicate", "x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown action frobnicate[\s\S]*usage:/);

    const known = `known-${randomUUID()}`;
    await client.createPersistentSubscriptionToAll(known, persistentSubscriptionToAllSettingsFromDefaults());
    const unknown = await parked(["list", "no-such-group"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("no persistent subscription group 'no-such-group'");
    expect(unknown.stderr).toContain(known);
  }, 60_000);

  it("lists a group's parked events with stream, type and reason, and replays them to the group", async () => {
    const prefix = `parkedtest${randomUUID().slice(0, 8)}-`;
    const group = `projection-${prefix}`;
    await client.createPersistentSubscriptionToAll(group, persistentSubscriptionToAllSettingsFromDefaults({ startFrom: START }), {
      filter: streamNameFilter({ prefixes: [prefix] }),
    });
    const first = `${prefix}${randomUUID()}`;
    const second = `${prefix}${randomUUID()}`;
    await client.appendToStream(first, jsonEvent({ type: "ReservationPlaced", data: { n: 1 } }));
    await client.appendToStream(second, jsonEvent({ type: "PaymentSucceeded", data: { n: 2 } }));
    expect(await consume(group, 2, "park")).toHaveLength(2);

    const listed = await parked(["list", group]);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain(`${first}@0`);
    expect(lines[0]).toContain("ReservationPlaced");
    expect(lines[0]).toContain("Redis at 127.0.0.1:6379 unreachable (ReservationPlaced)");
    expect(lines[1]).toContain(`${second}@0`);
    expect(lines[1]).toContain("PaymentSucceeded");
    expect(lines[2]).toBe(`2 parked event(s) in group ${group} ($persistentsubscription-$all::${group}-parked)`);

    const json = await parked(["list", group, "--json"]);
    expect(
      json.stdout
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { stream: string; type: string; reason: string }),
    ).toEqual([
      expect.objectContaining({ stream: first, type: "ReservationPlaced", reason: expect.stringContaining("unreachable") }),
      expect.objectContaining({ stream: second, type: "PaymentSucceeded" }),
    ]);

    const replayed = await parked(["replay", group]);
    expect(replayed.code, replayed.stderr).toBe(0);
    expect(replayed.stdout).toContain(`replayed 2 parked event(s) to group ${group}`);

    // The group delivers both again; acknowledged this time, nothing stays parked.
    const again = await consume(group, 2, "ack");
    expect(again.map((event) => event.stream).sort()).toEqual([first, second].sort());
    const after = await parked(["list", group]);
    expect(after.stdout.trim()).toBe(`0 parked event(s) in group ${group} ($persistentsubscription-$all::${group}-parked)`);
  }, 90_000);
});
