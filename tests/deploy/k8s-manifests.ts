/**
 * Validation of the Kubernetes manifests in deploy/k8s without a cluster or kubeconform (neither
 * npm nor Debian has it): every document is checked against the Kubernetes JSON schemas compiled
 * into the kubernetes-models package (types, required fields, formats such as quantities), and —
 * like `kubeconform -strict` — for fields Kubernetes does not know, which those schemas let through
 * (the API server would drop a misspelt `readinesProbe` silently). The known fields are read from
 * the same package's type declarations.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { REPO_ROOT } from "./compose-project.js";

const require = createRequire(import.meta.url);

export const K8S_DIR = path.join(REPO_ROOT, "deploy/k8s");

export interface Manifest {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Readonly<Record<string, string>> };
  readonly [field: string]: unknown;
}

interface Validating {
  validate(): void;
}

/** Each kind the manifests may use: its schema-validating model and its type declaration module. */
const KINDS: Readonly<Record<string, { readonly model: (data: Manifest) => Validating; readonly declarations: string }>> = {
  "v1/ConfigMap": { model: (data) => new ConfigMap(data), declarations: "kubernetes-models/v1/ConfigMap" },
  "v1/Secret": { model: (data) => new Secret(data), declarations: "kubernetes-models/v1/Secret" },
  "v1/Service": { model: (data) => new Service(data), declarations: "kubernetes-models/v1/Service" },
  "apps/v1/Deployment": { model: (data) => new Deployment(data), declarations: "kubernetes-models/apps/v1/Deployment" },
  "policy/v1/PodDisruptionBudget": {
    model: (data) => new PodDisruptionBudget(data),
    declarations: "kubernetes-models/policy/v1/PodDisruptionBudget",
  },
};

export const readManifests = (file: string): Manifest[] =>
  parseAllDocuments(readFileSync(path.join(K8S_DIR, file), "utf8"))
    .map((document) => {
      if (document.errors.length > 0) throw new Error(`${file}: ${document.errors.map((error) => error.message).join("; ")}`);
      return document.toJS() as Manifest | null;
    })
    .filter((manifest): manifest is Manifest => manifest !== null)
    .map((manifest) => ({ ...manifest, file }));

interface Declared {
  /** Field name → the interface its value (or each item of its array value) is, when it is one. */
  readonly fields: ReadonlyMap<string, string | undefined>;
}

const declarationCache = new Map<string, Declared | undefined>();

/** The first interface of a kubernetes-models declaration file: its fields and their interface types. */
const declared = (module: string): Declared | undefined => {
  if (declarationCache.has(module)) return declarationCache.get(module);
  // The packages export their modules, not the .d.ts beside each one.
  const text = readFileSync(require.resolve(module).replace(/\.js$/, ".d.ts"), "utf8");
  const imports = new Map<string, string>();
  for (const match of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const [, name = "", from = ""] = match;
    imports.set(name, from.startsWith(".") ? path.posix.join(path.posix.dirname(module), from) : from);
  }
  const body = /^export interface \w+(?: extends [^{]+)? \{\n([\s\S]*?)^\}/m.exec(text)?.[1];
  if (body === undefined) {
    // A type alias (IntOrString, Quantity, Time): a leaf.
    declarationCache.set(module, undefined);
    return undefined;
  }
  const fields = new Map<string, string | undefined>();
  for (const match of body.matchAll(/^ {4}"([^"]+)"\??: (.+?);?$/gm)) {
    const [, name = "", type = ""] = match;
    const referenced = /^(?:Array<)?(\w+)>?$/.exec(type)?.[1];
    fields.set(name, referenced !== undefined ? imports.get(referenced) : undefined);
  }
  const result = { fields };
  declarationCache.set(module, result);
  return result;
};

const unknownFields = (value: unknown, module: string, at: string): string[] => {
  const declaration = declared(module);
  if (declaration === undefined || value === null || typeof value !== "object") return [];
  if (Array.isArray(value)) return value.flatMap((item, index) => unknownFields(item, module, `${at}[${index}]`));
  const problems: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (!declaration.fields.has(key)) {
      problems.push(`${at}.${key}: unknown field`);
      continue;
    }
    const childModule = declaration.fields.get(key);
    if (childModule !== undefined) problems.push(...unknownFields(child, childModule, `${at}.${key}`));
  }
  return problems;
};

/** Schema errors and unknown fields of one manifest; empty when Kubernetes would accept it as written. */
export const manifestProblems = (manifest: Manifest): string[] => {
  const { file, ...document } = manifest as Manifest & { readonly file?: string };
  const where = `${file ?? "?"}: ${manifest.kind}/${manifest.metadata?.name ?? "?"}`;
  const kind = KINDS[`${manifest.apiVersion}/${manifest.kind}`];
  if (!kind) return [`${where}: ${manifest.apiVersion} ${manifest.kind} is not a kind these manifests are checked for`];
  const problems: string[] = [];
  try {
    kind.model(document as Manifest).validate();
  } catch (error) {
    problems.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  problems.push(...unknownFields(document, kind.declarations, where));
  return problems;
};
