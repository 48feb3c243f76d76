import { randomUUID } from "node:crypto";
import {
  status,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type * as pb from "@eventstore/db-client/generated/persistent_pb.js";
import type { PersistentSubscriptions } from "../../persistent/persistent-subscriptions.js";
import { type GroupSource, formatStartFrom, sourceName } from "../../persistent/definition.js";
import type { Consumer, Delivery, NackAction, SubscriptionGroup } from "../../persistent/subscription-group.js";
import { fillRecordedEvent, readStreamName, readUuid, wireToNumber } from "../convert.js";
import { invalidArgument, rpcError } from "../errors.js";
import { persistentPb, sharedPb, type StreamIdentifier } from "../proto.js";
import { parseGroupRequest, settingsProblem } from "./settings.js";
import { RequestStatistics } from "../../persistent/request-statistics.js";

/** An insecure node authenticates every connection as its system account. */
const INSECURE_USER = "system";
import { guardStep, guardUnary } from "../storage-guard.js";

const groupTrailers = (source: GroupSource, group: string): Record<string, string> => ({
  "stream-name": sourceName(source),
  "group-name": group,
});

const doesNotExist = (source: GroupSource, group: string) =>
  rpcError(status.NOT_FOUND, `Subscription group ${group} on stream ${sourceName(source)} does not exist.`, {
    exception: "persistent-subscription-does-not-exist",
    ...groupTrailers(source, group),
  });

const alreadyExists = (source: GroupSource, group: string) =>
  rpcError(status.ALREADY_EXISTS, `Subscription group ${group} on stream ${sourceName(source)} exists.`, {
    exception: "persistent-subscription-exists",
    ...groupTrailers(source, group),
  });

const maximumSubscribersReached = (source: GroupSource, group: string) =>
  rpcError(status.FAILED_PRECONDITION, `Maximum subscriptions reached for subscription group ${group} on stream ${sourceName(source)}.`, {
    exception: "maximum-subscribers-reached",
    ...groupTrailers(source, group),
  });

const failed = (source: GroupSource, group: string, reason: string) =>
  rpcError(status.INTERNAL, `Subscription group ${group} on stream ${sourceName(source)} failed: '${reason}'`, {
    exception: "persistent-subscription-failed",
    ...groupTrailers(source, group),
    reason,
  });

const dropped = (source: GroupSource, group: string, reason: string) =>
  rpcError(status.CANCELLED, `Subscription group ${group} on stream ${sourceName(source)} was dropped (${reason}).`, {
    exception: "persistent-subscription-dropped",
    ...groupTrailers(source, group),
  });

/** The request shapes that name a group's source as a stream identifier or `$all`. */
const readSource = (options: { hasAll(): boolean; getStreamIdentifier(): StreamIdentifier | undefined }): GroupSource | undefined => {
  if (options.hasAll()) return { kind: "all" };
  const name = readStreamName(options.getStreamIdentifier());
  return name === undefined || name === "" ? undefined : { kind: "stream", stream: name };
};

const NACK_ACTIONS: Record<number, NackAction> = {
  [persistentPb.ReadReq.Nack.Action.UNKNOWN]: "unknown",
  [persistentPb.ReadReq.Nack.Action.PARK]: "park",
  [persistentPb.ReadReq.Nack.Action.RETRY]: "retry",
  [persistentPb.ReadReq.Nack.Action.SKIP]: "skip",
  [persistentPb.ReadReq.Nack.Action.STOP]: "stop",
};

export const persistentSubscriptionsService = (subscriptions: PersistentSubscriptions): UntypedServiceImplementation => {
  const create = (call: ServerUnaryCall<pb.CreateReq, pb.CreateResp>, callback: sendUnaryData<pb.CreateResp>): void => {
    const parsed = parseGroupRequest(call.request.getOptions());
    if (typeof parsed === "string") return callback(invalidArgument(parsed));
    const problem = settingsProblem(parsed);
    if (problem) return callback(failed(parsed.source, parsed.group, problem));
    const outcome = subscriptions.create({ source: parsed.source, group: parsed.group, settings: parsed.settings });
    if (outcome === "exists") return callback(alreadyExists(parsed.source, parsed.group));
    callback(null, new persistentPb.CreateResp());
  };

  const update = (call: ServerUnaryCall<pb.UpdateReq, pb.UpdateResp>, callback: sendUnaryData<pb.UpdateResp>): void => {
    const parsed = parseGroupRequest(call.request.getOptions());
    if (typeof parsed === "string") return callback(invalidArgument(parsed));
    const problem = settingsProblem(parsed);
    if (problem) return callback(failed(parsed.source, parsed.group, problem));
    // An update keeps the group's filter: the update request cannot carry one.
    const existing = subscriptions.get(parsed.source, parsed.group);
    const source = existing?.definition.source ?? parsed.source;
    const outcome = subscriptions.update({ source, group: parsed.group, settings: parsed.settings });
    if (outcome === "not_found") return callback(doesNotExist(parsed.source, parsed.group));
    callback(null, new persistentPb.UpdateResp());
  };

  const remove = (call: ServerUnaryCall<pb.DeleteReq, pb.DeleteResp>, callback: sendUnaryData<pb.DeleteResp>): void => {
    const options = call.request.getOptions();
    const source = options ? readSource(options) : undefined;
    if (!options || !source) return callback(invalidArgument("Delete needs a stream or $all"));
    const outcome = subscriptions.delete(source, options.getGroupName());
    if (outcome === "not_found") return callback(doesNotExist(source, options.getGroupName()));
    callback(null, new persistentPb.DeleteResp());
  };

  const getInfo = (call: ServerUnaryCall<pb.GetInfoReq, pb.GetInfoResp>, callback: sendUnaryData<pb.GetInfoResp>): void => {
    const options = call.request.getOptions();
    const source = options ? readSource(options) : undefined;
    if (!options || !source) return callback(invalidArgument("GetInfo needs a stream or $all"));
    const group = subscriptions.get(source, options.getGroupName());
    if (!group) return callback(doesNotExist(source, options.getGroupName()));
    const response = new persistentPb.GetInfoResp();
    response.setSubscriptionInfo(subscriptionInfo(group));
    callback(null, response);
  };

  const list = (call: ServerUnaryCall<pb.ListReq, pb.ListResp>, callback: sendUnaryData<pb.ListResp>): void => {
    const options = call.request.getOptions();
    let source: GroupSource | undefined;
    if (options?.hasListForStream()) {
      const forStream = options.getListForStream();
      if (forStream?.hasAll()) source = { kind: "all" };
      else {
        const name = readStreamName(forStream?.getStream());
        if (name === undefined) return callback(invalidArgument("List needs a stream or $all"));
        source = { kind: "stream", stream: name };
      }
    }
    const groups = subscriptions.list(source);
    // Listing a source that never had a group is reported like a missing group.
    if (source && !groups) return callback(doesNotExist(source, ""));
    const response = new persistentPb.ListResp();
    response.setSubscriptionsList((groups ?? []).map(subscriptionInfo));
    callback(null, response);
  };

  const replayParked = (
    call: ServerUnaryCall<pb.ReplayParkedReq, pb.ReplayParkedResp>,
    callback: sendUnaryData<pb.ReplayParkedResp>,
  ): void => {
    const options = call.request.getOptions();
    const source = options ? readSource(options) : undefined;
    if (!options || !source) return callback(invalidArgument("ReplayParked needs a stream or $all"));
    const group = subscriptions.get(source, options.getGroupName());
    if (!group) return callback(doesNotExist(source, options.getGroupName()));
    group.replayParked(options.hasStopAt() ? wireToNumber(options.getStopAt()) : undefined);
    callback(null, new persistentPb.ReplayParkedResp());
  };

  const restartSubsystem = (
    _call: ServerUnaryCall<unknown, unknown>,
    callback: sendUnaryData<InstanceType<typeof sharedPb.Empty>>,
  ): void => {
    subscriptions.restart();
    callback(null, new sharedPb.Empty());
  };

  const read = (call: ServerDuplexStream<pb.ReadReq, pb.ReadResp>): void => {
    let group: SubscriptionGroup | undefined;
    let consumer: Consumer | undefined;
    const leave = (): void => {
      if (group && consumer) group.removeConsumer(consumer);
      consumer = undefined;
    };
    call.on("cancelled", leave);
    call.on("close", leave);
    call.on("error", leave);
    call.on("end", () => {
      leave();
      call.end();
    });
    call.on("data", (request: pb.ReadReq) =>
      guardStep(
        "persistent subscription read",
        (error) => call.emit("error", error),
        () => onRequest(request),
      ),
    );
    const onRequest = (request: pb.ReadReq): void => {
      if (request.hasOptions()) {
        if (consumer) return;
        const options = request.getOptions();
        const source = options ? readSource(options) : undefined;
        if (!options || !source) {
          call.emit("error", invalidArgument("Subscribe needs a stream or $all"));
          return;
        }
        const name = options.getGroupName();
        group = subscriptions.get(source, name);
        if (!group) {
          call.emit("error", doesNotExist(source, name));
          return;
        }
        const { maxSubscriberCount } = group.definition.settings;
        if (maxSubscriberCount > 0 && group.consumerCount >= maxSubscriberCount) {
          call.emit("error", maximumSubscribersReached(source, name));
          return;
        }
        consumer = createConsumer(call, group, Math.max(1, options.getBufferSize()), options.getUuidOption()?.hasStructured() ?? false);
        const confirmation = new persistentPb.ReadResp();
        const confirm = new persistentPb.ReadResp.SubscriptionConfirmation();
        confirm.setSubscriptionId(`${sourceName(source)}::${name}`);
        confirmation.setSubscriptionConfirmation(confirm);
        call.write(confirmation);
        group.addConsumer(consumer);
        return;
      }
      if (!group || !consumer) return;
      if (request.hasAck()) {
        group.ack(uuids(request.getAck()?.getIdsList() ?? []));
      } else if (request.hasNack()) {
        const nack = request.getNack();
        if (!nack) return;
        group.nack(uuids(nack.getIdsList()), NACK_ACTIONS[nack.getAction()] ?? "unknown", nack.getReason());
      }
    };
  };

  return {
    create: guardUnary("persistent subscription create", create),
    update: guardUnary("persistent subscription update", update),
    delete: guardUnary("persistent subscription delete", remove),
    getInfo: guardUnary("persistent subscription info", getInfo),
    list: guardUnary("persistent subscription list", list),
    replayParked: guardUnary("replay of parked messages", replayParked),
    restartSubsystem,
    read,
  };
};

const uuids = (ids: readonly Parameters<typeof readUuid>[0][]): string[] =>
  ids.map(readUuid).filter((id): id is string => id !== undefined);

const createConsumer = (
  call: ServerDuplexStream<pb.ReadReq, pb.ReadResp>,
  group: SubscriptionGroup,
  capacity: number,
  structuredIds: boolean,
): Consumer => ({
  id: randomUUID(),
  connectionName: call.metadata.get("connection-name")[0]?.toString() ?? "<unknown>",
  from: call.getPeer(),
  username: INSECURE_USER,
  capacity,
  inFlight: 0,
  totalItems: 0,
  totalItemsAtLastMeasurement: 0,
  statistics: group.definition.settings.extraStatistics ? new RequestStatistics() : undefined,
  deliver: (delivery: Delivery) => {
    call.write(toReadResp(delivery, group.definition.source, structuredIds));
  },
  drop: (reason) => {
    const { source, group: name } = group.definition;
    call.emit(
      "error",
      dropped(
        source,
        name,
        reason === "deleted" ? "the group was deleted" : reason === "updated" ? "the group was updated" : "the server is stopping",
      ),
    );
  },
});

const toReadResp = (delivery: Delivery, source: GroupSource, structuredIds: boolean): pb.ReadResp => {
  const response = new persistentPb.ReadResp();
  const readEvent = new persistentPb.ReadResp.ReadEvent();
  if (delivery.unresolved)
    readEvent.setLink(fillRecordedEvent(new persistentPb.ReadResp.ReadEvent.RecordedEvent(), delivery.event, structuredIds));
  else readEvent.setEvent(fillRecordedEvent(new persistentPb.ReadResp.ReadEvent.RecordedEvent(), delivery.event, structuredIds));
  if (delivery.link)
    readEvent.setLink(fillRecordedEvent(new persistentPb.ReadResp.ReadEvent.RecordedEvent(), delivery.link, structuredIds));
  if (source.kind === "all") readEvent.setCommitPosition(String((delivery.link ?? delivery.event).position));
  else readEvent.setNoPosition(new sharedPb.Empty());
  readEvent.setRetryCount(delivery.retryCount);
  response.setEvent(readEvent);
  return response;
};

const subscriptionInfo = (group: SubscriptionGroup): pb.SubscriptionInfo => {
  const { source, group: name, settings } = group.definition;
  const stats = group.info();
  const info = new persistentPb.SubscriptionInfo();
  info.setEventSource(sourceName(source));
  info.setGroupName(name);
  info.setStatus(stats.status);
  info.setConnectionsList(
    stats.consumers.map((consumer) => {
      const connection = new persistentPb.SubscriptionInfo.ConnectionInfo();
      connection.setFrom(consumer.from);
      connection.setUsername(consumer.username);
      connection.setAverageItemsPerSecond(consumer.averageItemsPerSecond);
      connection.setTotalItems(String(consumer.totalItems));
      connection.setCountSinceLastMeasurement(String(consumer.countSinceLastMeasurement));
      connection.setObservedMeasurementsList(
        consumer.measurements.map(({ key, value }) => {
          const measurement = new persistentPb.SubscriptionInfo.Measurement();
          measurement.setKey(key);
          measurement.setValue(String(value));
          return measurement;
        }),
      );
      connection.setAvailableSlots(consumer.availableSlots);
      connection.setInFlightMessages(consumer.inFlight);
      connection.setConnectionName(consumer.connectionName);
      return connection;
    }),
  );
  info.setAveragePerSecond(stats.averagePerSecond);
  info.setTotalItems(String(stats.totalItems));
  info.setCountSinceLastMeasurement(String(stats.countSinceLastMeasurement));
  info.setLastCheckpointedEventPosition(stats.lastCheckpoint);
  info.setLastKnownEventPosition(stats.lastKnown);
  info.setResolveLinkTos(settings.resolveLinkTos);
  info.setStartFrom(formatStartFrom(source, settings.startFrom));
  info.setMessageTimeoutMilliseconds(settings.messageTimeoutMs);
  info.setExtraStatistics(settings.extraStatistics);
  info.setMaxRetryCount(settings.maxRetryCount);
  info.setLiveBufferSize(settings.liveBufferSize);
  info.setBufferSize(settings.historyBufferSize);
  info.setReadBatchSize(settings.readBatchSize);
  info.setCheckPointAfterMilliseconds(settings.checkPointAfterMs);
  info.setMinCheckPointCount(settings.minCheckPointCount);
  info.setMaxCheckPointCount(settings.maxCheckPointCount);
  info.setReadBufferCount(stats.readBufferCount);
  info.setLiveBufferCount("0");
  info.setRetryBufferCount(stats.retryBufferCount);
  info.setTotalInFlightMessages(stats.inFlight);
  info.setOutstandingMessagesCount(stats.inFlight);
  info.setNamedConsumerStrategy(settings.consumerStrategy);
  info.setMaxSubscriberCount(settings.maxSubscriberCount);
  info.setParkedMessageCount(String(stats.parked));
  return info;
};
