/**
 * Every command package.json runs through tsx (the scripts, the benchmarks, the event store CLI)
 * answers `npm run -s <name> -- --help` with its usage and exit code 0, without starting anything.
 * The list comes from package.json, so a new command without --help fails here.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../crash/processes.js";

const scripts = (JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
/** `dev` runs the service itself, which has no usage to print. */
const commands = Object.entries(scripts)
  .filter(([name, command]) => command.startsWith("tsx ") && name !== "dev")
  .map(([name]) => name);

const runHelp = (name: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> =>
  new Promise((resolve) => {
    const started = Date.now();
    const child = spawn("npm", ["run", "-s", name, "--", "--help"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });

describe("--help", () => {
  it("package.json has the commands this test expects to find", () => {
    expect(commands).toEqual(
      expect.arrayContaining(["token", "projections:rebuild", "parked", "eventstore", "bench", "load:test", "bench:crash"]),
    );
  });

  it.each(commands)(
    "npm run -s %s -- --help prints the usage and exits 0",
    async (name) => {
      const { code, stdout, stderr } = await runHelp(name);
      expect(code, `${stdout}\n${stderr}`).toBe(0);
      expect(stdout.trimStart(), stderr).toMatch(/^usage: /);
    },
    60_000,
  );
});
