/**
 * The layering of src/ and projections/ (issue 11): lower layers may not import higher ones, so that
 * no two top-level folders depend on each other. `npm run lint:deps` checks it; tests/build/layers.test.ts
 * checks the folder cycles without this tool.
 *
 *   domain < core < application < infrastructure < projections < worker
 *   http: application, core, domain (and the logger); service.ts and main.ts wire everything.
 */
const layer = (name) => `^src/${name}/`;
const anyOf = (...paths) => `(${paths.join("|")})`;
// The process-wide modules at the top of src/ that only the wiring may use.
const WIRING = anyOf("^src/service\\.ts$", "^src/main\\.ts$", "^src/config\\.ts$", "^src/metrics\\.ts$", "^src/shutdown\\.ts$");

const below = (from, ...forbidden) => ({
  name: `${from}-not-above-its-layer`,
  comment: `${from} may not import ${forbidden.join(", ")}`,
  severity: "error",
  from: { path: from === "projections" ? "^projections/" : layer(from) },
  to: { path: anyOf(...forbidden.map((name) => (name === "projections" ? "^projections/" : layer(name))), WIRING) },
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "Modules that import each other, directly or through others (type-only imports included), cannot be layered or read one at a time.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    below("domain", "core", "application", "infrastructure", "projections", "worker", "http"),
    below("core", "application", "infrastructure", "projections", "worker", "http"),
    below("application", "infrastructure", "projections", "worker", "http"),
    below("infrastructure", "projections", "worker", "http"),
    below("projections", "worker", "http"),
    below("worker", "http"),
    below("http", "infrastructure", "projections", "worker"),
    {
      name: "logging-at-the-bottom",
      comment: "Every layer logs, so the logger may not import any of them (nor the configuration).",
      severity: "error",
      from: { path: "^src/(logger|repeated-warnings)\\.ts$" },
      to: { path: "^src/", pathNot: "^src/(logger|repeated-warnings)\\.ts$" },
    },
    {
      name: "domain-depends-on-nothing-of-ours",
      comment: "The domain is pure: no logger, no configuration, no process-wide module.",
      severity: "error",
      from: { path: layer("domain") },
      to: { path: "^src/[^/]+\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/embedded-eventstore/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
