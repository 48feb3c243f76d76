/**
 * The embedded store's own rates (appends/s, reads/s through the real client) for `npm run bench`.
 *
 * bench/eventstore.bench.ts is being turned into a module exporting
 * `runEventStoreBench(): Promise<{ label: string; perSecond: number }[]>`. Until that export exists,
 * this adapter runs the script as a child process and reads the rates off its printed lines; once
 * it exists, it is imported and called, and the child-process path is dead code to delete.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { repoRoot } from "./processes.js";

export interface RateFigure {
  readonly label: string;
  readonly perSecond: number;
}

export interface EventStoreFigures {
  readonly figures: readonly RateFigure[];
  /** How they were obtained, for the report. */
  readonly source: "runEventStoreBench()" | "bench/eventstore.bench.ts output";
}

const SCRIPT = path.join(repoRoot, "bench", "eventstore.bench.ts");

const isRateFigures = (value: unknown): value is RateFigure[] =>
  Array.isArray(value) &&
  value.every(
    (item: unknown) =>
      typeof item === "object" &&
      item !== null &&
      typeof (item as { label?: unknown }).label === "string" &&
      typeof (item as { perSecond?: unknown }).perSecond === "number",
  );

/** `<label>   <n> events   <ms> ms   12,345/s`, as the script prints each measurement. */
const parseOutput = (output: string): RateFigure[] =>
  output.split("\n").flatMap((line) => {
    const match = /^(.+?)\s+\d+ events\s+\d+ ms\s+([\d,]+)\/s\s*$/.exec(line);
    return match ? [{ label: (match[1] ?? "").trim(), perSecond: Number((match[2] ?? "").replaceAll(",", "")) }] : [];
  });

export const measureEventStore = async (options: { events?: number } = {}): Promise<EventStoreFigures> => {
  // Importing the script before it has the export would run it as a side effect, so look first.
  if (/export\s+(async\s+function|const|function)\s+runEventStoreBench\b/.test(readFileSync(SCRIPT, "utf8"))) {
    const loaded: unknown = await import(pathToFileURL(SCRIPT).href);
    const run = (loaded as { runEventStoreBench?: unknown }).runEventStoreBench;
    if (typeof run !== "function") throw new Error("bench/eventstore.bench.ts: runEventStoreBench is not a function");
    const figures: unknown = await (run as () => Promise<unknown>)();
    if (!isRateFigures(figures)) throw new Error("runEventStoreBench() did not return { label, perSecond }[]");
    return { figures, source: "runEventStoreBench()" };
  }
  const args = ["--import", "tsx", SCRIPT, ...(options.events === undefined ? [] : ["--events", String(options.events)])];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: repoRoot, maxBuffer: 1 << 20 });
  return { figures: parseOutput(stdout), source: "bench/eventstore.bench.ts output" };
};
