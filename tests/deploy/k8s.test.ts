/**
 * deploy/k8s: every manifest validates against the Kubernetes schemas (and has no field Kubernetes
 * does not know), and the pieces fit together: selectors select the pods they are meant to, probes
 * hit the app's health routes on the port it listens on, every container has resource requests and
 * limits, configuration comes from the ConfigMap and the Secret, and that configuration is one the
 * app's own loader accepts for a cluster.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { K8S_DIR, type Manifest, manifestProblems, readManifests } from "./k8s-manifests.js";

interface Probe {
  readonly httpGet?: { readonly path?: string; readonly port?: string | number };
}

interface Container {
  readonly name: string;
  readonly image: string;
  readonly env?: readonly { readonly name: string; readonly value?: string }[];
  readonly envFrom?: readonly { readonly configMapRef?: { readonly name: string }; readonly secretRef?: { readonly name: string } }[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly resources?: {
    readonly requests?: Readonly<Record<string, string>>;
    readonly limits?: Readonly<Record<string, string>>;
  };
}

interface DeploymentShape {
  readonly spec: {
    readonly replicas?: number;
    readonly selector: { readonly matchLabels: Readonly<Record<string, string>> };
    readonly template: {
      readonly metadata: { readonly labels: Readonly<Record<string, string>> };
      readonly spec: { readonly containers: readonly Container[] };
    };
  };
}

const kustomization = parse(readFileSync(path.join(K8S_DIR, "kustomization.yaml"), "utf8")) as {
  readonly resources: readonly string[];
  readonly images?: readonly { readonly name: string; readonly newName?: string; readonly newTag?: string }[];
};

const applied: Manifest[] = kustomization.resources.flatMap((file) => readManifests(file));
const secretExample: Manifest[] = readManifests("secret.example.yaml");
const everything = [...applied, ...secretExample];

const ofKind = (kind: string): Manifest[] => applied.filter((manifest) => manifest.kind === kind);
const deployments = (): [Manifest, DeploymentShape][] =>
  ofKind("Deployment").map((manifest) => [manifest, manifest as unknown as DeploymentShape]);
const selects = (selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

const configMapData = (): Record<string, string> => {
  const [configMap] = ofKind("ConfigMap");
  return { ...((configMap as unknown as { data?: Record<string, string> } | undefined)?.data ?? {}) };
};

describe("deploy/k8s against the Kubernetes schemas", () => {
  it("kustomization.yaml lists every manifest but the Secret example, and each file exists", () => {
    const manifests = readdirSync(K8S_DIR).filter((file) => file.endsWith(".yaml") && file !== "kustomization.yaml");
    expect([...kustomization.resources].sort()).toEqual(manifests.filter((file) => file !== "secret.example.yaml").sort());
    for (const file of kustomization.resources) expect(existsSync(path.join(K8S_DIR, file)), file).toBe(true);
  });

  it("every manifest validates, with no unknown field", () => {
    expect(everything.length).toBeGreaterThanOrEqual(7);
    expect(everything.flatMap((manifest) => manifestProblems(manifest))).toEqual([]);
  });

  it("the checks can fail: a wrong type, a missing probe port, a bad quantity and a misspelt field are reported", () => {
    const [, api] = deployments().find(([manifest]) => manifest.metadata.name === "reservations-api") ?? [];
    if (!api) throw new Error("no api Deployment");
    const [container] = api.spec.template.spec.containers;
    const broken = (changes: Partial<Container>, specChanges: Record<string, unknown> = {}): Manifest =>
      ({
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: "broken" },
        spec: {
          ...api.spec,
          ...specChanges,
          template: { ...api.spec.template, spec: { ...api.spec.template.spec, containers: [{ ...container, ...changes }] } },
        },
      }) as unknown as Manifest;
    expect(manifestProblems(broken({}, { replicas: "two" })).join()).toMatch(/replicas must be integer/);
    expect(manifestProblems(broken({ readinessProbe: { httpGet: { path: "/health/ready" } } })).join()).toMatch(
      /readinessProbe\/httpGet must have required property port/,
    );
    expect(manifestProblems(broken({ resources: { requests: { cpu: "lots" } } })).join()).toMatch(/cpu/);
    const misspelt = { ...container, readinesProbe: container?.readinessProbe } as unknown as Partial<Container>;
    expect(manifestProblems(broken(misspelt))).toEqual([
      "?: Deployment/broken.spec.template.spec.containers[0].readinesProbe: unknown field",
    ]);
    expect(manifestProblems({ apiVersion: "extensions/v1beta1", kind: "Ingress", metadata: { name: "x" } } as Manifest).join()).toMatch(
      /not a kind/,
    );
  });
});

describe("deploy/k8s: the pieces fit", () => {
  it("has an api and a worker Deployment, each with at least 2 replicas and its ROLE", () => {
    const roles = Object.fromEntries(
      deployments().map(([manifest, deployment]) => [
        manifest.metadata.name,
        {
          replicas: deployment.spec.replicas,
          role: deployment.spec.template.spec.containers[0]?.env?.find((variable) => variable.name === "ROLE")?.value,
        },
      ]),
    );
    expect(roles).toEqual({ "reservations-api": { replicas: 2, role: "api" }, "reservations-worker": { replicas: 2, role: "worker" } });
  });

  it("selectors select their own pods: Deployments their templates, the Service and each PodDisruptionBudget one Deployment", () => {
    for (const [manifest, deployment] of deployments()) {
      expect(selects(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels), manifest.metadata.name).toBe(true);
    }
    const podsOf = (selector: Readonly<Record<string, string>>): string[] =>
      deployments()
        .filter(([, deployment]) => selects(selector, deployment.spec.template.metadata.labels))
        .map(([manifest]) => manifest.metadata.name);
    const [service] = ofKind("Service");
    const serviceSpec = (service as unknown as { spec: { selector: Record<string, string>; ports: { targetPort: string | number }[] } })
      .spec;
    expect(podsOf(serviceSpec.selector)).toEqual(["reservations-api"]);
    const pdbs = ofKind("PodDisruptionBudget").map(
      (pdb) =>
        pdb as unknown as {
          metadata: { name: string };
          spec: { minAvailable?: number; selector: { matchLabels: Record<string, string> } };
        },
    );
    expect(pdbs.map((pdb) => [pdb.metadata.name, podsOf(pdb.spec.selector.matchLabels)])).toEqual([
      ["reservations-api", ["reservations-api"]],
      ["reservations-worker", ["reservations-worker"]],
    ]);
    for (const pdb of pdbs) {
      // A budget that needs every replica up would block every node drain.
      const replicas = deployments().find(([manifest]) => manifest.metadata.name === pdb.metadata.name)?.[1].spec.replicas ?? 1;
      expect(pdb.spec.minAvailable ?? 0, pdb.metadata.name).toBeLessThan(replicas);
    }
    const apiPorts =
      deployments().find(([manifest]) => manifest.metadata.name === "reservations-api")?.[1].spec.template.spec.containers[0]?.ports ?? [];
    for (const port of serviceSpec.ports)
      expect(apiPorts.some((candidate) => candidate.name === port.targetPort || candidate.containerPort === port.targetPort)).toBe(true);
  });

  it("probes the app's health routes on the port it listens on: readiness /health/ready, liveness /health/live", () => {
    const listensOn = Number(configMapData().PORT);
    for (const [manifest, deployment] of deployments()) {
      for (const container of deployment.spec.template.spec.containers) {
        const portOf = (probe: Probe | undefined): number | undefined => {
          const port = probe?.httpGet?.port;
          return typeof port === "number" ? port : container.ports?.find((candidate) => candidate.name === port)?.containerPort;
        };
        expect(container.readinessProbe?.httpGet?.path, manifest.metadata.name).toBe("/health/ready");
        expect(container.livenessProbe?.httpGet?.path, manifest.metadata.name).toBe("/health/live");
        expect(portOf(container.readinessProbe), manifest.metadata.name).toBe(listensOn);
        expect(portOf(container.livenessProbe), manifest.metadata.name).toBe(listensOn);
      }
    }
  });

  it("gives every container cpu and memory requests and limits", () => {
    for (const [manifest, deployment] of deployments()) {
      for (const container of deployment.spec.template.spec.containers) {
        for (const bound of ["requests", "limits"] as const) {
          expect(Object.keys(container.resources?.[bound] ?? {}).sort(), `${manifest.metadata.name} ${bound}`).toEqual(["cpu", "memory"]);
        }
      }
    }
  });

  it("takes configuration from the ConfigMap and the Secret, and uses the image kustomization names", () => {
    const configMapName = ofKind("ConfigMap")[0]?.metadata.name;
    const secretName = secretExample[0]?.metadata.name;
    for (const [manifest, deployment] of deployments()) {
      for (const container of deployment.spec.template.spec.containers) {
        const sources = container.envFrom ?? [];
        expect(sources.map((source) => source.configMapRef?.name).filter(Boolean), manifest.metadata.name).toEqual([configMapName]);
        expect(sources.map((source) => source.secretRef?.name).filter(Boolean), manifest.metadata.name).toEqual([secretName]);
        expect(kustomization.images?.map((image) => image.name)).toContain(container.image);
      }
    }
  });

  it("the configuration it adds up to is one the app accepts for a cluster: production, the leader, Sentinel", () => {
    const secretData = (secretExample[0] as unknown as { stringData: Record<string, string> }).stringData;
    for (const [manifest, deployment] of deployments()) {
      const container = deployment.spec.template.spec.containers[0];
      const env = Object.fromEntries((container?.env ?? []).map((variable) => [variable.name, variable.value ?? ""]));
      const config = loadConfig({ ...configMapData(), ...secretData, ...env });
      expect(config.nodeEnv, manifest.metadata.name).toBe("production");
      expect(config.http.host).toBe("0.0.0.0");
      expect(config.auth.usingDevelopmentSecret).toBe(false);
      expect(config.eventStore.url).toMatch(/^esdb(\+discover)?:\/\/[^?]+\?(.*&)?nodePreference=leader(&|$)/);
      expect(config.redis.sentinel?.sentinels.length).toBeGreaterThanOrEqual(3);
      expect(config.redis.sentinel?.masterName).toBeTruthy();
    }
    // Secrets stay out of the ConfigMap.
    expect(Object.keys(configMapData()).filter((key) => /SECRET|TOKEN|PASSWORD/.test(key))).toEqual([]);
  });
});
