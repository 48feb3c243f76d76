/**
 * The README's walkthroughs, run exactly as written: each flow's shell block, after the setup block,
 * in bash against a running service (ROLE=all: the saga charges, settles and refunds). Every line
 * marked `# → a, b` must print those lines, in order, and nothing else may be printed.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/logger.js";
import { type RunningService, startService } from "../../src/service.js";

const run = promisify(execFile);

interface Walkthrough {
  readonly title: string;
  readonly script: string;
  readonly expected: readonly string[];
}

/** The shell blocks of the README's walkthrough section: the setup first, then one per reference system. */
const walkthroughs = (): { setup: string; flows: Walkthrough[] } => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("## Walkthroughs");
  const section = readme.slice(start, readme.indexOf("\n## ", start + 1));
  const blocks = [...section.matchAll(/(?:\*\*([^*]+)\*\*[^`]*)?```sh\n([\s\S]*?)```/g)].map((match) => ({
    title: match[1] ?? "setup",
    script: match[2] ?? "",
  }));
  const [setup, ...flows] = blocks;
  if (!setup || flows.length === 0) throw new Error("the README has no walkthrough blocks");
  return {
    setup: setup.script,
    flows: flows.map(({ title, script }) => ({
      title,
      script,
      expected: [...script.matchAll(/# → (.+)$/gm)].flatMap((match) => (match[1] ?? "").split(", ").map((value) => value.trim())),
    })),
  };
};

const { setup, flows } = walkthroughs();
const secret = `walkthrough-${randomUUID()}`;
let service: RunningService;

beforeAll(async () => {
  const config = loadConfig({
    ROLE: "all",
    PORT: "0",
    EMBEDDED_EVENTSTORE_PORT: "0",
    AUTH_SECRET: secret,
    READ_MODEL_KEY_ROOT: `walkthrough-${randomUUID()}`,
    LOG_LEVEL: "silent",
    ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
  });
  service = await startService(config, createLogger({ level: "silent" }), { inMemoryEventStore: true });
}, 60_000);

afterAll(async () => {
  await service?.stop();
}, 30_000);

describe("the README's walkthroughs", () => {
  it("are five, one per reference system, each with something to check", () => {
    expect(flows.map((flow) => flow.title)).toHaveLength(5);
    for (const flow of flows) expect(flow.expected.length, flow.title).toBeGreaterThanOrEqual(2);
  });

  for (const flow of flows) {
    it(`${flow.title}: prints what the README says`, async () => {
      const { stdout } = await run("bash", ["-c", `set -u\n${setup}\n${flow.script}`], {
        cwd: new URL("../..", import.meta.url),
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", API: service.url, AUTH_SECRET: secret },
        timeout: 90_000,
      });
      expect(stdout.trim().split("\n")).toEqual(flow.expected);
    }, 120_000);
  }
});
