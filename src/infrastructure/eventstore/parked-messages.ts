import {
  PersistentSubscriptionDoesNotExistError,
  StreamNotFoundError,
  type EventStoreDBClient,
  type ResolvedEvent,
} from "@eventstore/db-client";

/** A persistent-subscription group: on `$all` (every group of this app) or on one stream. */
export type GroupSource = { readonly kind: "all" } | { readonly kind: "stream"; readonly stream: string };

export interface ParkedMessage {
  /** The parked link's number in the parked stream. */
  readonly parkedRevision: bigint;
  /** The event that was parked; absent when it no longer exists (its stream was deleted or truncated). */
  readonly stream: string | undefined;
  readonly revision: bigint | undefined;
  readonly type: string | undefined;
  readonly eventId: string | undefined;
  /** Why it was parked, from the parked link's metadata (what the consumer's nack said). */
  readonly reason: string | undefined;
  readonly parkedAt: string | undefined;
}

export class UnknownGroupError extends Error {
  override readonly name = "UnknownGroupError";
  constructor(
    readonly group: string,
    readonly existing: readonly string[],
  ) {
    super(`no persistent subscription group '${group}'; the groups are: ${existing.length === 0 ? "(none)" : existing.join(", ")}`);
  }
}

/** EventStoreDB's name for where a group's parked messages live. */
export const parkedStreamOf = (source: GroupSource, group: string): string =>
  `$persistentsubscription-${source.kind === "all" ? "$all" : source.stream}::${group}-parked`;

const groupsOf = async (client: EventStoreDBClient, source: GroupSource): Promise<string[]> => {
  const groups =
    source.kind === "all" ? await client.listAllPersistentSubscriptions() : await client.listPersistentSubscriptionsToStream(source.stream);
  return groups
    .filter((info) => (source.kind === "all" ? info.eventSource === "$all" : info.eventSource === source.stream))
    .map((info) => info.groupName)
    .sort();
};

/** Fails with the names of the groups that do exist, so that a typo is easy to fix. */
const requireGroup = async (client: EventStoreDBClient, source: GroupSource, group: string): Promise<void> => {
  try {
    if (source.kind === "all") await client.getPersistentSubscriptionToAllInfo(group);
    else await client.getPersistentSubscriptionToStreamInfo(source.stream, group);
  } catch (error) {
    if (error instanceof PersistentSubscriptionDoesNotExistError) throw new UnknownGroupError(group, await groupsOf(client, source));
    throw error;
  }
};

const linkMetadata = (resolved: ResolvedEvent): { reason?: unknown; added?: unknown } => {
  const metadata: unknown = resolved.link?.metadata;
  return typeof metadata === "object" && metadata !== null && !(metadata instanceof Uint8Array) ? metadata : {};
};

const toParked = (resolved: ResolvedEvent): ParkedMessage => {
  const { reason, added } = linkMetadata(resolved);
  // With links resolved, `link` is the parked link and `event` what it points to; a dangling link has no `link`.
  const link = resolved.link ?? resolved.event;
  const original = resolved.link ? resolved.event : undefined;
  return {
    parkedRevision: link?.revision ?? -1n,
    stream: original?.streamId,
    revision: original?.revision,
    type: original?.type,
    eventId: original?.id,
    reason: typeof reason === "string" ? reason : undefined,
    parkedAt: typeof added === "string" ? added : undefined,
  };
};

/** The group's parked messages, oldest first (those already replayed are gone from the parked stream). */
export const listParkedMessages = async (client: EventStoreDBClient, source: GroupSource, group: string): Promise<ParkedMessage[]> => {
  await requireGroup(client, source, group);
  const parked: ParkedMessage[] = [];
  try {
    for await (const resolved of client.readStream(parkedStreamOf(source, group), { resolveLinkTos: true }))
      parked.push(toParked(resolved));
  } catch (error) {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  }
  return parked;
};

/** Hands every parked message back to the group, which delivers each once more (a nack parks it again). */
export const replayParkedMessages = async (client: EventStoreDBClient, source: GroupSource, group: string): Promise<void> => {
  await requireGroup(client, source, group);
  if (source.kind === "all") await client.replayParkedMessagesToAll(group);
  else await client.replayParkedMessagesToStream(source.stream, group);
};
