/**
 * Summarises a V8 CPU profile (`node --cpu-prof`): where the busy time went, by package (self
 * time, and inclusive time — a package's frames and everything they called), and the top frames.
 *
 *   npm run -s profile:summary -- profiles/CPU.*.cpuprofile [--top 25]
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The bucket a frame's time is counted under: an npm package, a folder of the project, or Node/V8 itself. */
const bucketOf = (frame: CallFrame): string => {
  const { url, functionName } = frame;
  if (url === "") return functionName === "" ? "(anonymous native)" : `(${functionName.replace(/^\(|\)$/g, "")})`;
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inModules?.[1]) return inModules[1];
  if (url.startsWith("node:")) return "node:" + (url.slice(5).split("/")[0] ?? "");
  const project = /\/(dist\/)?(src|projections|bench|scripts)\/(.*)$/.exec(url);
  if (project) {
    const [, , root, rest = ""] = project;
    const folder = rest.includes("/") ? rest.slice(0, rest.indexOf("/")) : rest.replace(/\.[jt]s$/, "");
    return `${root}/${folder}`;
  }
  return url;
};

const frameName = (frame: CallFrame): string =>
  `${frame.functionName || "(anonymous)"} ${frame.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/(dist\/)?(?=(src|projections|bench|scripts)\/)/, "")}:${frame.lineNumber + 1}`;

exitOnHelp(`
usage: npm run -s profile:summary -- <file.cpuprofile> [--top 25]

Where a V8 CPU profile's time went: by package (self and inclusive) and the top frames.
`);

const main = (): void => {
  const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "25" } }, allowPositionals: true });
  const file = positionals[0];
  if (file === undefined) {
    console.error("usage: npm run -s profile:summary -- <file.cpuprofile> [--top N]");
    process.exitCode = 2;
    return;
  }
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  const selfByNode = new Map<number, number>();
  profile.samples.forEach((id, index) => selfByNode.set(id, (selfByNode.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));

  let total = 0;
  let idle = 0;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const frames = new Map<string, number>();
  const inclusiveFrames = new Map<string, number>();
  for (const [id, micros] of selfByNode) {
    const node = byId.get(id);
    if (!node) continue;
    const bucket = bucketOf(node.callFrame);
    total += micros;
    if (bucket === "(idle)") {
      idle += micros;
      continue;
    }
    self.set(bucket, (self.get(bucket) ?? 0) + micros);
    const frame = frameName(node.callFrame);
    frames.set(frame, (frames.get(frame) ?? 0) + micros);
    // Inclusive: every bucket and every frame on the stack gets the sample once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const callFrame = byId.get(at)?.callFrame ?? { functionName: "", url: "", lineNumber: 0 };
      const frameBucket = bucketOf(callFrame);
      const name = frameName(callFrame);
      if (!seen.has(name)) {
        seen.add(name);
        inclusiveFrames.set(name, (inclusiveFrames.get(name) ?? 0) + micros);
      }
      if (seen.has(frameBucket)) continue;
      seen.add(frameBucket);
      inclusive.set(frameBucket, (inclusive.get(frameBucket) ?? 0) + micros);
    }
  }
  const busy = total - idle;
  const top = Number(values.top);
  const pct = (micros: number): string => `${((100 * micros) / Math.max(1, busy)).toFixed(1)}%`;
  const table = (title: string, rows: Map<string, number>): void => {
    console.log(`\n| ${title} | ms | of busy |\n| --- | ---: | ---: |`);
    for (const [name, micros] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`| ${name} | ${(micros / 1000).toFixed(0)} | ${pct(micros)} |`);
    }
  };
  console.log(
    `profile ${file}: ${(total / 1e6).toFixed(1)} s sampled, busy ${(busy / 1e6).toFixed(1)} s (idle ${(idle / 1e6).toFixed(1)} s; GC and program counted as busy)`,
  );
  table("self time by package", self);
  table("inclusive time by package", inclusive);
  table("top frames (self)", frames);
  // The project's own frames by inclusive time: which of our functions the time is spent under.
  const ours = new Map([...inclusiveFrames].filter(([name]) => /^\S+ (src|projections)\//.test(name)));
  table("project frames (inclusive)", ours);
};

main();
