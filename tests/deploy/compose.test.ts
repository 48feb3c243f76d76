/**
 * docker-compose.yml, with no Docker engine to run `docker compose config`: the file is checked
 * against the compose-spec JSON schema, its profiles are resolved the way compose resolves them,
 * and the cluster profile is checked for what would break it at start-up: missing or disabled
 * dependencies, clashing host ports, undeclared volumes, missing mounted files, an app environment
 * the app's own configuration loader refuses, and names that do not match across services (the
 * EventStoreDB connection string and gossip seeds, the sentinels and the name they monitor, the
 * proxy's upstream).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import {
  type ComposeFile,
  type ComposeService,
  REPO_ROOT,
  enabledServices,
  environmentOf,
  interpolate,
  interpolateValues,
  parseCompose,
  projectProblems,
  readComposeText,
  schemaErrors,
} from "./compose-project.js";

const AUTH_SECRET = "a".repeat(64);

/** The file as `docker compose` sees it with AUTH_SECRET exported (as the README says to run it). */
const composeWith = (env: Readonly<Record<string, string | undefined>> = { AUTH_SECRET }): ComposeFile =>
  interpolateValues(parseCompose(readComposeText()), env);

const service = (file: ComposeFile, name: string): ComposeService => {
  const found = file.services[name];
  if (!found) throw new Error(`no service ${name}`);
  return found;
};

const isAppService = (candidate: ComposeService): boolean => candidate.build !== undefined;

const commandText = (candidate: ComposeService): string =>
  Array.isArray(candidate.command) ? (candidate.command as readonly string[]).join(" ") : String(candidate.command ?? "");

describe("docker-compose.yml against the compose specification", () => {
  it("is valid by the compose-spec schema", () => {
    expect(schemaErrors(composeWith())).toEqual([]);
  });

  it("the schema check can fail: an unknown key, a bad duration and a malformed port are reported", () => {
    const file = composeWith();
    const broken = {
      ...file,
      services: {
        ...file.services,
        "cluster-api": { ...service(file, "cluster-api"), replica: 2 },
        "cluster-proxy": {
          ...service(file, "cluster-proxy"),
          ports: ["80:80:80:80"],
          healthcheck: { test: ["CMD", "true"], interval: "soon" },
        },
      },
    };
    const errors = schemaErrors(broken);
    expect(errors.some((error) => error.includes("/services/cluster-api") && error.includes("additional properties"))).toBe(true);
    expect(errors.some((error) => error.includes("/services/cluster-proxy/healthcheck/interval"))).toBe(true);
    expect(errors.some((error) => error.includes("/services/cluster-proxy/ports/0"))).toBe(true);
  });

  it("interpolates like compose: AUTH_SECRET reaches the app, LOG_LEVEL defaults to info", () => {
    const environment = environmentOf(service(composeWith(), "cluster-api"));
    expect(environment.AUTH_SECRET).toBe(AUTH_SECRET);
    expect(environment.LOG_LEVEL).toBe("info");
    expect(interpolate("a $$b ${X:-d} ${Y-e} ${Z}", { Y: "" })).toBe("a $b d  ");
    expect(() => interpolate("${NEEDED:?set it}", {})).toThrow(/NEEDED/);
  });
});

describe("the default profile (no --profile)", () => {
  it("is still the single-node stack: eventstore, redis, api, worker", () => {
    const file = composeWith();
    expect(Object.keys(enabledServices(file, [])).sort()).toEqual(["api", "eventstore", "redis", "worker"]);
    expect(projectProblems(file, [])).toEqual([]);
    expect(environmentOf(service(file, "eventstore")).EVENTSTORE_CLUSTER_SIZE).toBe("1");
    expect(environmentOf(service(file, "api")).EVENTSTORE_URL).toBe("esdb://eventstore:2113?tls=false");
  });
});

describe("the cluster profile (docker compose --profile cluster config)", () => {
  const file = composeWith();
  const enabled = enabledServices(file, ["cluster"]);
  const clusterOnly = Object.fromEntries(Object.entries(enabled).filter(([, candidate]) => candidate.profiles?.includes("cluster")));

  it("resolves: every dependency exists and is enabled, no host port is published twice, every volume and mounted file exists", () => {
    expect(projectProblems(file, ["cluster"])).toEqual([]);
  });

  it("the project checks can fail: a missing dependency, a disabled one, a port clash and a missing file are reported", () => {
    const proxy = service(file, "cluster-proxy");
    const broken: ComposeFile = {
      ...file,
      services: {
        ...file.services,
        "cluster-proxy": { ...proxy, ports: ["3000:8080"], volumes: ["./deploy/compose/missing.conf:/etc/nginx/conf.d/default.conf:ro"] },
        "cluster-worker": {
          ...service(file, "cluster-worker"),
          depends_on: { "esdb-node4": { condition: "service_healthy" } },
          ports: ["9000:3000"],
        },
        lonely: { image: "busybox", profiles: ["cluster"], depends_on: ["only-elsewhere"] },
        "only-elsewhere": { image: "busybox", profiles: ["other"] },
      },
    };
    const problems = projectProblems(broken, ["cluster"]);
    expect(problems).toContain("cluster-worker depends on esdb-node4, which does not exist");
    expect(problems).toContain("lonely depends on only-elsewhere, which these profiles do not enable");
    expect(problems).toContain("host port 3000 is published 2 times (api, cluster-proxy)");
    // Two replicas of one service cannot both bind the same host port.
    expect(problems).toContain("host port 9000 is published 2 times (cluster-worker, cluster-worker)");
    expect(problems).toContain("cluster-proxy mounts ./deploy/compose/missing.conf, which does not exist");
  });

  it("has a health check on every service", () => {
    const without = Object.entries(clusterOnly)
      .filter(([, candidate]) => candidate.healthcheck?.test === undefined || candidate.healthcheck.disable === true)
      .map(([name]) => name);
    expect(without).toEqual([]);
  });

  it("runs a 3-node EventStoreDB 24.10 cluster: insecure, gossip seeded with the other two nodes, standard projections on", () => {
    const nodes = Object.entries(clusterOnly).filter(([, candidate]) => candidate.image?.startsWith("eventstore/eventstore:"));
    expect(nodes.map(([name]) => name).sort()).toEqual(["esdb-node1", "esdb-node2", "esdb-node3"]);
    for (const [name, node] of nodes) {
      const environment = environmentOf(node);
      expect(node.image).toBe("eventstore/eventstore:24.10");
      expect(environment).toMatchObject({
        EVENTSTORE_CLUSTER_SIZE: String(nodes.length),
        EVENTSTORE_INSECURE: "true",
        EVENTSTORE_RUN_PROJECTIONS: "All",
        EVENTSTORE_START_STANDARD_PROJECTIONS: "true",
        EVENTSTORE_DISCOVER_VIA_DNS: "false",
        EVENTSTORE_REPLICATION_IP: "0.0.0.0",
        EVENTSTORE_NODE_HOST_ADVERTISE_AS: name,
        EVENTSTORE_REPLICATION_HOST_ADVERTISE_AS: name,
      });
      const seeds = (environment.EVENTSTORE_GOSSIP_SEED ?? "").split(",").map((seed) => seed.split(":")[0]);
      expect(seeds.sort()).toEqual(
        nodes
          .map(([other]) => other)
          .filter((other) => other !== name)
          .sort(),
      );
      expect(node.volumes?.length).toBe(1);
    }
  });

  it("runs Redis with a replica and three sentinels that monitor the primary by the name the app asks for", () => {
    const replica = service(file, "cluster-redis-replica");
    expect(commandText(replica)).toMatch(/--replicaof cluster-redis 6379/);
    const sentinels = Object.entries(clusterOnly).filter(([, candidate]) => /redis-sentinel/.test(commandText(candidate)));
    expect(sentinels.length).toBe(3);
    const appEnvironment = environmentOf(service(file, "cluster-api"));
    for (const [, sentinel] of sentinels) {
      const monitor = /sentinel monitor (\S+) (\S+) (\d+) (\d+)/.exec(commandText(sentinel));
      expect(monitor?.[1]).toBe(appEnvironment.REDIS_MASTER_NAME);
      expect(monitor?.[2]).toBe("cluster-redis");
      expect(Number(monitor?.[4])).toBe(Math.floor(sentinels.length / 2) + 1);
    }
    expect(commandText(sentinels[0]?.[1] ?? {})).toMatch(/port 26379/);
  });

  it("gives every app service an environment the app accepts, with the cluster connection string and the sentinels", () => {
    const apps = Object.entries(clusterOnly).filter(([, candidate]) => isAppService(candidate));
    expect(apps.map(([name]) => name).sort()).toEqual(["cluster-api", "cluster-worker"]);
    for (const [name, app] of apps) {
      const config = loadConfig(environmentOf(app));
      expect(config.nodeEnv, name).toBe("production");
      expect(config.role, name).toBe(name === "cluster-api" ? "api" : "worker");
      expect(config.http.host, name).toBe("0.0.0.0");

      const url = new URL((config.eventStore.url ?? "").replace(/^esdb:/, "http:").replace(/,.*\?/, "?"));
      expect(url.searchParams.get("tls"), name).toBe("false");
      expect(url.searchParams.get("nodePreference"), name).toBe("leader");
      const hosts = /^esdb:\/\/([^?/]+)/.exec(config.eventStore.url ?? "")?.[1]?.split(",") ?? [];
      expect(hosts.sort(), name).toEqual(["esdb-node1:2113", "esdb-node2:2113", "esdb-node3:2113"]);

      expect(config.redis.sentinel?.masterName, name).toBe("reservations");
      for (const sentinel of config.redis.sentinel?.sentinels ?? []) {
        expect(enabled[sentinel.host], `${name}: sentinel ${sentinel.host}`).toBeDefined();
        expect(commandText(service(file, sentinel.host))).toContain(`port ${sentinel.port}`);
      }
      expect(config.redis.sentinel?.sentinels.length, name).toBe(3);
      expect(app.deploy?.replicas ?? 1, name).toBeGreaterThanOrEqual(2);
    }
  });

  it("refuses to start the app without AUTH_SECRET (the app's own check, as compose would pass it)", () => {
    const environment = environmentOf(service(composeWith({}), "cluster-api"));
    expect(() => loadConfig(environment)).toThrow(/AUTH_SECRET/);
  });

  it("puts a reverse proxy in front of the API replicas, which publish no host port of their own", () => {
    const api = service(file, "cluster-api");
    expect(api.ports ?? []).toEqual([]);
    const proxy = service(file, "cluster-proxy");
    expect(proxy.image).toMatch(/^(nginx|haproxy):/);
    const mount = proxy.volumes?.find((volume): volume is string => typeof volume === "string" && volume.includes("nginx.conf"));
    expect(mount).toBeDefined();
    const conf = readFileSync(path.resolve(REPO_ROOT, (mount ?? "").split(":")[0] ?? ""), "utf8");
    const target = /set \$api http:\/\/([^:;/]+):(\d+);/.exec(conf);
    expect(conf).toMatch(/proxy_pass \$api;/);
    expect(target?.[1]).toBe("cluster-api");
    expect(target?.[2]).toBe(environmentOf(api).PORT);
    expect(conf).toMatch(/listen 8080;/);
    expect(proxy.ports).toContain("8080:8080");
  });
});
