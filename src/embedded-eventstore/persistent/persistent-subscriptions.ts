import { z } from "zod";
import type { EventLog } from "../log/event-log.js";
import {
  CONSUMER_STRATEGIES,
  type GroupDefinition,
  type GroupSource,
  checkpointStreamOf,
  groupKey,
  parkedStreamOf,
  sourceName,
} from "./definition.js";
import { SubscriptionGroup } from "./subscription-group.js";

/** Where EventStoreDB keeps the definitions of all persistent subscriptions: one document per change. */
export const CONFIG_STREAM = "$persistentSubscriptionConfig";
const CONFIG_EVENT_TYPE = "$PersistentConfig";

const startFromSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("start") }),
  z.object({ kind: z.literal("end") }),
  z.object({ kind: z.literal("at"), value: z.number().int().nonnegative() }),
]);

const definitionSchema = z.object({
  source: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("stream"), stream: z.string() }),
    z.object({
      kind: z.literal("all"),
      filter: z.object({ on: z.enum(["stream", "eventType"]), regex: z.string(), prefixes: z.array(z.string()) }).optional(),
    }),
  ]),
  group: z.string(),
  settings: z.object({
    startFrom: startFromSchema,
    resolveLinkTos: z.boolean(),
    extraStatistics: z.boolean(),
    messageTimeoutMs: z.number().int().nonnegative(),
    maxRetryCount: z.number().int().nonnegative(),
    checkPointAfterMs: z.number().int().nonnegative(),
    minCheckPointCount: z.number().int().nonnegative(),
    maxCheckPointCount: z.number().int().nonnegative(),
    maxSubscriberCount: z.number().int().nonnegative(),
    liveBufferSize: z.number().int().nonnegative(),
    readBatchSize: z.number().int().nonnegative(),
    historyBufferSize: z.number().int().nonnegative(),
    consumerStrategy: z
      .enum(CONSUMER_STRATEGIES as [string, ...string[]])
      .transform((name) => name as GroupDefinition["settings"]["consumerStrategy"]),
  }),
});

const configSchema = z.object({
  version: z.literal(1),
  updated: z.string(),
  entries: z.array(definitionSchema),
});

export type RegistryOutcome = "ok" | "exists" | "not_found";

/** The persistent-subscription subsystem: the set of groups, kept in the log so it survives restarts. */
export class PersistentSubscriptions {
  private readonly groups = new Map<string, SubscriptionGroup>();
  /** Sources that have had a group since start: listing them answers an empty list rather than "does not exist". */
  private readonly knownSources = new Set<string>();
  private started = false;

  constructor(private readonly log: EventLog) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const definition of this.loadDefinitions()) {
      this.knownSources.add(sourceName(definition.source));
      this.groups.set(groupKey(definition.source, definition.group), new SubscriptionGroup(this.log, definition));
    }
  }

  stop(): void {
    for (const group of this.groups.values()) group.close("stopped");
  }

  /** Records every group's progress; called once connections are closed on shutdown. */
  flush(): void {
    for (const group of this.groups.values()) group.flush();
  }

  /** Drops every consumer and reloads the groups from their checkpoints, as `RestartSubsystem` does. */
  restart(): void {
    for (const group of this.groups.values()) {
      group.close("stopped");
      group.flush();
    }
    this.groups.clear();
    this.started = false;
    this.start();
  }

  get(source: GroupSource, group: string): SubscriptionGroup | undefined {
    return this.groups.get(groupKey(source, group));
  }

  /** The groups of one source (undefined when it never had any), or of every source. */
  list(source: GroupSource | undefined): SubscriptionGroup[] | undefined {
    const all = [...this.groups.values()];
    if (!source) return all;
    if (!this.knownSources.has(sourceName(source))) return undefined;
    return all.filter((group) => sourceName(group.definition.source) === sourceName(source));
  }

  create(definition: GroupDefinition): RegistryOutcome {
    const key = groupKey(definition.source, definition.group);
    if (this.groups.has(key)) return "exists";
    this.groups.set(key, new SubscriptionGroup(this.log, definition));
    this.knownSources.add(sourceName(definition.source));
    this.saveDefinitions();
    return "ok";
  }

  update(definition: GroupDefinition): RegistryOutcome {
    const key = groupKey(definition.source, definition.group);
    const existing = this.groups.get(key);
    if (!existing) return "not_found";
    existing.close("updated");
    existing.flush();
    this.groups.set(key, new SubscriptionGroup(this.log, definition));
    this.saveDefinitions();
    return "ok";
  }

  delete(source: GroupSource, group: string): RegistryOutcome {
    const key = groupKey(source, group);
    const existing = this.groups.get(key);
    if (!existing) return "not_found";
    existing.close("deleted");
    this.groups.delete(key);
    this.saveDefinitions();
    // A group created again under the same name starts afresh, as on EventStoreDB.
    this.log.delete(checkpointStreamOf(source, group), { kind: "any" });
    this.log.delete(parkedStreamOf(source, group), { kind: "any" });
    return "ok";
  }

  private loadDefinitions(): GroupDefinition[] {
    const last = this.log.readStream(CONFIG_STREAM, "end", "backwards", 1);
    const event = Array.isArray(last) ? last[0] : undefined;
    if (!event) return [];
    try {
      const parsed = configSchema.safeParse(JSON.parse(Buffer.from(event.data).toString("utf8")));
      return parsed.success ? parsed.data.entries : [];
    } catch {
      return [];
    }
  }

  private saveDefinitions(): void {
    const document = {
      version: 1,
      updated: new Date().toISOString(),
      entries: [...this.groups.values()].map((group) => group.definition),
    };
    this.log.append(CONFIG_STREAM, { kind: "any" }, [
      {
        id: crypto.randomUUID(),
        type: CONFIG_EVENT_TYPE,
        contentType: "application/json",
        data: Buffer.from(JSON.stringify(document), "utf8"),
        metadata: new Uint8Array(0),
      },
    ]);
  }
}
