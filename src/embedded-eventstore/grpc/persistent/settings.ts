import type { CreateReq, UpdateReq } from "@eventstore/db-client/generated/persistent_pb.js";
import { createFilter } from "../../log/event-filter.js";
import type { ConsumerStrategy, GroupSettings, GroupSource, StartFrom, StoredFilter } from "../../persistent/definition.js";
import { readStreamName, wireToNumber } from "../convert.js";
import { persistentPb } from "../proto.js";

type Settings = CreateReq.Settings | UpdateReq.Settings;
type Options = CreateReq.Options | UpdateReq.Options;

/** uint64 max: how clients before 21.10 said "start from the end of the stream". */
const UINT64_MAX = "18446744073709551615";
const TICKS_PER_MS = 10_000;

const NAMED_STRATEGIES: Record<number, ConsumerStrategy> = {
  [persistentPb.CreateReq.ConsumerStrategy.DISPATCHTOSINGLE]: "DispatchToSingle",
  [persistentPb.CreateReq.ConsumerStrategy.ROUNDROBIN]: "RoundRobin",
  [persistentPb.CreateReq.ConsumerStrategy.PINNED]: "Pinned",
};

const isStrategy = (name: string): name is ConsumerStrategy =>
  name === "RoundRobin" || name === "DispatchToSingle" || name === "Pinned" || name === "PinnedByCorrelation";

const durationMs = (hasMs: boolean, ms: number, ticks: string): number =>
  hasMs ? ms : Math.floor(wireToNumber(ticks === "" ? "0" : ticks) / TICKS_PER_MS);

export interface ParsedRequest {
  readonly source: GroupSource;
  readonly group: string;
  readonly settings: GroupSettings;
}

/** Reads a create or update request, in its current form or the deprecated one older clients (and this client, for streams) send. */
export const parseGroupRequest = (options: Options | undefined): ParsedRequest | string => {
  const parsed = parseRequest(options);
  if (typeof parsed === "string") return parsed;
  const { settings } = parsed;
  if (typeof settings === "string") return settings;
  return { ...parsed, settings };
};

/** Settings EventStoreDB accepts syntactically but refuses to run with (it answers `persistent-subscription-failed`). */
export const settingsProblem = (request: ParsedRequest): string | undefined => {
  if (request.source.kind === "stream" && request.source.stream === "$all") {
    return "Persistent subscriptions to $all are only supported over gRPC through gRPC clients";
  }
  if (request.settings.readBatchSize >= request.settings.historyBufferSize) {
    return "Read batch size should be less than history buffer size.";
  }
  return undefined;
};

const parseRequest = (options: Options | undefined): { source: GroupSource; group: string; settings: GroupSettings | string } | string => {
  if (!options) return "The request has no options";
  const group = options.getGroupName();
  if (group === "") return "Group name must not be empty";
  const settings = options.getSettings();
  if (!settings) return "The request has no settings";

  let source: GroupSource;
  let startFrom: StartFrom;
  if (options.hasAll()) {
    const all = options.getAll();
    const filter = all && "hasFilter" in all && all.hasFilter() ? readFilter(all.getFilter()) : undefined;
    if (typeof filter === "string") return filter;
    source = filter ? { kind: "all", filter } : { kind: "all" };
    startFrom = all?.hasPosition()
      ? { kind: "at", value: wireToNumber(all.getPosition()?.getCommitPosition() ?? "0") }
      : all?.hasEnd()
        ? { kind: "end" }
        : { kind: "start" };
  } else {
    const stream = options.hasStream() ? options.getStream() : undefined;
    const name = readStreamName(stream ? stream.getStreamIdentifier() : options.getStreamIdentifier());
    if (name === undefined || name === "") return "Stream name must not be empty";
    source = { kind: "stream", stream: name };
    if (stream) {
      startFrom = stream.hasRevision()
        ? { kind: "at", value: wireToNumber(stream.getRevision()) }
        : stream.hasEnd()
          ? { kind: "end" }
          : { kind: "start" };
    } else {
      const revision = settings.getRevision();
      startFrom =
        revision === UINT64_MAX
          ? { kind: "end" }
          : revision === "" || revision === "0"
            ? { kind: "start" }
            : { kind: "at", value: wireToNumber(revision) };
    }
  }
  return { source, group, settings: readSettings(settings, startFrom) };
};

const readSettings = (settings: Settings, startFrom: StartFrom): GroupSettings | string => {
  const named = "getConsumerStrategy" in settings ? settings.getConsumerStrategy() : "";
  const consumerStrategy = named !== "" ? named : NAMED_STRATEGIES[settings.getNamedConsumerStrategy()];
  if (!consumerStrategy || !isStrategy(consumerStrategy)) return `Consumer strategy ${consumerStrategy ?? ""} does not exist.`;
  return {
    startFrom,
    resolveLinkTos: settings.getResolveLinks(),
    extraStatistics: settings.getExtraStatistics(),
    messageTimeoutMs: durationMs(settings.hasMessageTimeoutMs(), settings.getMessageTimeoutMs(), settings.getMessageTimeoutTicks()),
    maxRetryCount: settings.getMaxRetryCount(),
    checkPointAfterMs: durationMs(settings.hasCheckpointAfterMs(), settings.getCheckpointAfterMs(), settings.getCheckpointAfterTicks()),
    minCheckPointCount: settings.getMinCheckpointCount(),
    maxCheckPointCount: settings.getMaxCheckpointCount(),
    maxSubscriberCount: settings.getMaxSubscriberCount(),
    liveBufferSize: settings.getLiveBufferSize(),
    readBatchSize: settings.getReadBatchSize(),
    historyBufferSize: settings.getHistoryBufferSize(),
    consumerStrategy,
  };
};

const readFilter = (filter: CreateReq.AllOptions.FilterOptions | undefined): StoredFilter | string | undefined => {
  if (!filter) return undefined;
  const on = filter.hasStreamIdentifier() ? "stream" : "eventType";
  const expression = filter.hasStreamIdentifier() ? filter.getStreamIdentifier() : filter.getEventType();
  if (!expression) return undefined;
  const stored: StoredFilter = { on, regex: expression.getRegex(), prefixes: expression.getPrefixList() };
  const valid = createFilter(on, stored);
  return typeof valid === "string" ? valid : stored;
};
