/**
 * `.env`: `.env.example` names exactly the variables of README.md's configuration table, and a
 * `.env` in the working directory is loaded by the service (the environment winning over it).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot, runToExit } from "../support/child-service.js";

const variablesOfTable = (readme: string): Set<string> => {
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1));
  const names = new Set<string>();
  for (const line of section.split("\n")) {
    if (!line.startsWith("| `")) continue;
    const firstCell = line.split("|")[1] ?? "";
    for (const match of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(match[1]!);
  }
  return names;
};

const variablesOfExample = (text: string): Set<string> =>
  new Set([...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((match) => match[1]!));

const directories: string[] = [];
afterAll(() => {
  for (const dir of directories) rmSync(dir, { recursive: true, force: true });
});

/** Runs src/main.ts from `cwd` (tsx loaded by absolute URL, since `cwd` has no node_modules). */
const runServiceIn = (cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> => {
  const tsx = pathToFileURL(createRequire(path.join(repoRoot, "package.json")).resolve("tsx")).href;
  const env0 = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(PORT|LOG_LEVEL|DATA_DIR)$/.test(key)));
  return runToExit([path.join(repoRoot, "src", "main.ts")], { cwd, tsx, env: { ...env0, ...env } });
};

describe(".env", () => {
  it(".env.example lists every variable of the README's configuration table, and no other", () => {
    const table = variablesOfTable(readFileSync(path.join(repoRoot, "README.md"), "utf8"));
    const example = variablesOfExample(readFileSync(path.join(repoRoot, ".env.example"), "utf8"));
    expect(table.size).toBeGreaterThan(20);
    expect([...example].sort()).toEqual([...table].sort());
  });

  it("the service reads .env from its working directory; the environment wins over it", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "dotenv-"));
    directories.push(dir);
    // Invalid values make the service stop at once with a message naming them: proof they were read.
    writeFileSync(path.join(dir, ".env"), "PORT=not-a-port\nLOG_LEVEL=chatty\n");
    const fromFile = await runServiceIn(dir, {});
    expect(fromFile.code).toBe(1);
    expect(fromFile.output).toMatch(/invalid configuration: .*PORT/);
    expect(fromFile.output).toMatch(/LOG_LEVEL/);

    const overridden = await runServiceIn(dir, { PORT: "also-not-a-port", LOG_LEVEL: "info" });
    expect(overridden.code).toBe(1);
    expect(overridden.output).toMatch(/PORT/);
    expect(overridden.output).not.toMatch(/LOG_LEVEL/);
  }, 120_000);
});
