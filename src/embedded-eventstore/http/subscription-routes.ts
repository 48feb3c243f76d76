import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { type GroupSource, formatStartFrom, parkedStreamOf, sourceName } from "../persistent/definition.js";
import type { PersistentSubscriptions } from "../persistent/persistent-subscriptions.js";
import type { SubscriptionGroup } from "../persistent/subscription-group.js";
import { baseUrl } from "./read-options.js";
import { sendJson, sendStatus } from "./respond.js";

/** EventStoreDB's HTTP API hands out 1 message per `getMessagesUri` request unless told otherwise. */
const DEFAULT_MESSAGES = 1;

const sourceOf = (stream: string): GroupSource => (stream === "$all" ? { kind: "all" } : { kind: "stream", stream });

const numberOr = (position: string, fallback: number): number => (/^-?\d+$/.test(position) ? Number(position) : fallback);

const groupUrls = (base: string, group: SubscriptionGroup) => {
  const { source, group: name } = group.definition;
  const stream = encodeURIComponent(sourceName(source));
  const escapedGroup = encodeURIComponent(name);
  return {
    info: `${base}/subscriptions/${stream}/${escapedGroup}/info`,
    replayParked: `${base}/subscriptions/${stream}/${escapedGroup}/replayParked`,
    parked: `${base}/streams/${encodeURIComponent(parkedStreamOf(source, name))}`,
    messages: `${base}/subscriptions/${stream}/${escapedGroup}/${DEFAULT_MESSAGES}`,
  };
};

/** One element of `GET /subscriptions` and `GET /subscriptions/{stream}`. */
const summary = (base: string, group: SubscriptionGroup): Record<string, unknown> => {
  const stats = group.info();
  const urls = groupUrls(base, group);
  return {
    links: [{ href: urls.info, rel: "detail" }],
    eventStreamId: sourceName(group.definition.source),
    groupName: group.definition.group,
    parkedMessageUri: urls.parked,
    getMessagesUri: urls.messages,
    status: stats.status,
    averageItemsPerSecond: 0,
    totalItemsProcessed: stats.totalItems,
    lastProcessedEventNumber: numberOr(stats.lastCheckpoint, -1),
    lastCheckpointedEventPosition: stats.lastCheckpoint,
    lastKnownEventNumber: numberOr(stats.lastKnown, -1),
    lastKnownEventPosition: stats.lastKnown,
    connectionCount: stats.consumers.length,
    totalInFlightMessages: stats.inFlight,
  };
};

/** `GET /subscriptions/{stream}/{group}/info`: statistics, configuration and connections of one group. */
const details = (base: string, group: SubscriptionGroup): Record<string, unknown> => {
  const { source, settings } = group.definition;
  const stats = group.info();
  const urls = groupUrls(base, group);
  const startFrom = formatStartFrom(source, settings.startFrom);
  return {
    links: [
      { href: urls.info, rel: "detail" },
      { href: urls.replayParked, rel: "replayParked" },
    ],
    config: {
      resolveLinktos: settings.resolveLinkTos,
      startFrom: numberOr(startFrom, 0),
      startPosition: startFrom,
      messageTimeoutMilliseconds: settings.messageTimeoutMs,
      extraStatistics: settings.extraStatistics,
      maxRetryCount: settings.maxRetryCount,
      liveBufferSize: settings.liveBufferSize,
      bufferSize: settings.historyBufferSize,
      readBatchSize: settings.readBatchSize,
      preferRoundRobin: settings.consumerStrategy === "RoundRobin",
      checkPointAfterMilliseconds: settings.checkPointAfterMs,
      minCheckPointCount: settings.minCheckPointCount,
      maxCheckPointCount: settings.maxCheckPointCount,
      maxSubscriberCount: settings.maxSubscriberCount,
      namedConsumerStrategy: settings.consumerStrategy,
    },
    eventStreamId: sourceName(source),
    groupName: group.definition.group,
    status: stats.status,
    averageItemsPerSecond: 0,
    parkedMessageUri: urls.parked,
    getMessagesUri: urls.messages,
    totalItemsProcessed: stats.totalItems,
    countSinceLastMeasurement: 0,
    lastProcessedEventNumber: numberOr(stats.lastCheckpoint, -1),
    lastCheckpointedEventPosition: stats.lastCheckpoint,
    lastKnownEventNumber: numberOr(stats.lastKnown, -1),
    lastKnownEventPosition: stats.lastKnown,
    readBufferCount: stats.readBufferCount,
    liveBufferCount: 0,
    retryBufferCount: stats.retryBufferCount,
    totalInFlightMessages: stats.inFlight,
    outstandingMessagesCount: stats.inFlight,
    parkedMessageCount: stats.parked,
    connections: stats.consumers.map((consumer) => ({
      from: consumer.from,
      username: "",
      averageItemsPerSecond: 0,
      totalItemsProcessed: consumer.totalItems,
      countSinceLastMeasurement: 0,
      extraStatistics: [],
      availableSlots: consumer.availableSlots,
      inFlightMessages: consumer.inFlight,
      connectionName: consumer.connectionName,
    })),
  };
};

/** `/subscriptions…`: the statistics EventStoreDB's UI reads, and replaying parked messages. */
export const subscriptionRoute = (
  subscriptions: PersistentSubscriptions,
  request: IncomingMessage,
  response: ServerResponse,
  segments: readonly string[],
  query: URLSearchParams,
): void => {
  const base = baseUrl(request);
  const [stream, group, action, ...extra] = segments;
  if (request.method === "GET" && stream === undefined) {
    return sendJson(
      response,
      (subscriptions.list(undefined) ?? []).map((each) => summary(base, each)),
    );
  }
  if (request.method === "GET" && stream !== undefined && group === undefined) {
    const groups = subscriptions.list(sourceOf(stream));
    if (!groups) return sendStatus(response, 404, "Not Found");
    return sendJson(
      response,
      groups.map((each) => summary(base, each)),
    );
  }
  if (stream === undefined || group === undefined || extra.length > 0) return sendStatus(response, 404, "Not Found");
  const found = subscriptions.get(sourceOf(stream), group);
  if (request.method === "GET" && action === "info") {
    if (!found) return sendStatus(response, 404, "Not Found");
    return sendJson(response, details(base, found));
  }
  if (request.method === "POST" && action === "replayParked") {
    const stopAtText = query.get("stopAt");
    if (stopAtText !== null && !/^\d+$/.test(stopAtText))
      return sendStatus(response, 400, "stopAt should be a properly formed positive long");
    if (!found) return sendStatus(response, 404, "Not Found");
    found.replayParked(stopAtText === null ? undefined : Number(stopAtText));
    return sendJson(response, { correlationId: randomUUID(), reason: "", result: "Success" });
  }
  return sendStatus(response, 404, "Not Found");
};
