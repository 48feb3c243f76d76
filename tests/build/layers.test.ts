/**
 * The top-level folders of src/ (and projections/) must not import each other in a cycle: each
 * layer only imports the ones below it. `npm run lint:deps` checks the same with dependency-cruiser;
 * this test needs nothing but TypeScript, so that CI fails on a cycle even without the lint step.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const SOURCES = ["src", "projections"];

/** Lower layers first; a folder may import only folders before it. */
const LAYERS = ["src/domain", "src/core", "src/application", "src/infrastructure", "projections", "src/worker"];

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : [];
  });

/** `src/<folder>`, `src/<file>` for the modules at the top of src/, or the top folder (projections). */
const folderOf = (file: string): string => {
  const parts = relative(ROOT, file).split(sep);
  if (parts[0] === "src") return parts.length === 2 ? `src/${(parts[1] ?? "").replace(/\.ts$/, "")}` : `src/${parts[1]}`;
  return parts[0] ?? "";
};

/** NodeNext sources import `./x.js` for `./x.ts`, and may name a folder's index. */
const resolveImport = (from: string, specifier: string): string | undefined => {
  const base = resolve(dirname(from), specifier);
  const candidates = [base.replace(/\.js$/, ".ts"), base, `${base}.ts`, join(base, "index.ts")];
  return candidates.find((candidate) => candidate.endsWith(".ts") && existsSync(candidate));
};

interface Edge {
  readonly from: string;
  readonly to: string;
  /** `importer -> imported`, relative to the repository. */
  readonly files: string[];
}

const folderGraph = (): Map<string, Map<string, Edge>> => {
  const graph = new Map<string, Map<string, Edge>>();
  for (const file of SOURCES.flatMap((dir) => sourceFiles(join(ROOT, dir)))) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith(".")) continue;
      const target = resolveImport(file, fileName);
      if (target === undefined) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (from === to) continue;
      const edges = graph.get(from) ?? new Map<string, Edge>();
      graph.set(from, edges);
      const edge = edges.get(to) ?? { from, to, files: [] };
      edges.set(to, edge);
      edge.files.push(`${relative(ROOT, file)} -> ${relative(ROOT, target)}`);
    }
  }
  return graph;
};

/** One cycle per folder that starts one, as its edges; a depth-first search over the folder graph. */
const cyclesOf = (graph: Map<string, Map<string, Edge>>): Edge[][] => {
  const cycles: Edge[][] = [];
  const done = new Set<string>();
  const visit = (folder: string, path: Edge[], onPath: Set<string>): void => {
    for (const edge of graph.get(folder)?.values() ?? []) {
      if (onPath.has(edge.to)) {
        const start = path.findIndex((step) => step.from === edge.to);
        cycles.push([...path.slice(start === -1 ? path.length : start), edge]);
        continue;
      }
      if (done.has(edge.to)) continue;
      onPath.add(edge.to);
      visit(edge.to, [...path, edge], onPath);
      onPath.delete(edge.to);
    }
    done.add(folder);
  };
  for (const folder of graph.keys()) {
    if (!done.has(folder)) visit(folder, [], new Set([folder]));
  }
  return cycles;
};

const describeEdge = (edge: Edge): string => [`${edge.from} -> ${edge.to}`, ...edge.files.map((file) => `    ${file}`)].join("\n");

describe("layers", () => {
  const graph = folderGraph();

  it("no top-level folder imports a folder that imports it back, directly or through others", () => {
    const cycles = cyclesOf(graph).map((cycle) => cycle.map(describeEdge).join("\n"));
    expect(cycles, `folder cycles:\n${cycles.join("\n\n")}`).toEqual([]);
  });

  it("each layer imports only the layers below it", () => {
    const upward = [...graph.values()]
      .flatMap((edges) => [...edges.values()])
      .filter((edge) => LAYERS.includes(edge.from) && LAYERS.includes(edge.to) && LAYERS.indexOf(edge.to) > LAYERS.indexOf(edge.from));
    expect(upward.map(describeEdge), "imports up the layers").toEqual([]);
  });

  it("sees the imports it checks", () => {
    // Guards against a resolver that silently finds nothing, which would pass the checks above.
    expect(graph.get("src/application")?.has("src/domain")).toBe(true);
    expect(graph.get("src/worker")?.has("src/infrastructure")).toBe(true);
  });
});
