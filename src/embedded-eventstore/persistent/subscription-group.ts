import type { EventLog } from "../log/event-log.js";
import { type EventFilter, createFilter, selectsFromAll } from "../log/event-filter.js";
import { LINK_EVENT_TYPE, METADATA_EVENT_TYPE, type ProposedEvent, type StoredEvent, isHiddenFromAll, metastreamOf } from "../log/types.js";
import { chooseConsumer } from "./consumer-strategy.js";
import type { Measurement, RequestStatistics } from "./request-statistics.js";
import { type GroupDefinition, checkpointStreamOf, formatPosition, parkedStreamOf } from "./definition.js";
import { reportStorageFault } from "../storage-faults.js";

/** How long a group waits before reading again after its storage refused a read. */
const STORAGE_RETRY_MS = 1000;

/** One connected member of a consumer group. */
export interface Consumer {
  readonly id: string;
  readonly connectionName: string;
  readonly from: string;
  /** The user the connection runs as: "system" on an insecure node, which authenticates everyone so. */
  readonly username: string;
  readonly capacity: number;
  inFlight: number;
  totalItems: number;
  /** `totalItems` when statistics were last asked for: the per-second rate is measured between two asks. */
  totalItemsAtLastMeasurement: number;
  /** Set when the group keeps extra statistics. */
  readonly statistics: RequestStatistics | undefined;
  deliver(delivery: Delivery): void;
  drop(reason: "deleted" | "updated" | "stopped"): void;
}

export interface Delivery {
  /** The event, or the link itself when it is not resolved (or did not resolve: see `unresolved`). */
  readonly event: StoredEvent;
  readonly link: StoredEvent | undefined;
  /** A link the group was asked to resolve whose event is gone: it is sent as the link alone. */
  readonly unresolved: boolean;
  readonly retryCount: number;
}

/** A source record's place in the checkpoint order: a revision, or a `$all` position. */
interface Slot {
  readonly position: number;
  done: boolean;
}

interface Message extends Delivery {
  /** The id the client acknowledges with: the link's when a link was resolved. */
  readonly ackId: string;
  /** Undefined for replayed parked messages, which are outside the source's checkpoint order. */
  readonly slot: Slot | undefined;
  retryCount: number;
  consumer: Consumer | undefined;
  deadline: number;
}

export type NackAction = "park" | "retry" | "skip" | "stop" | "unknown";

const CHECKPOINT_EVENT_TYPE = "$SubscriptionCheckpoint";
const ADMIN_ONLY_ACL = { $r: "$admins", $w: "$admins", $d: "$admins", $mr: "$admins", $mw: "$admins" };
/** Source records scanned per pump before yielding, so one busy group cannot starve the event loop. */
const MAX_SCAN_PER_PUMP = 10_000;

/**
 * A persistent subscription group: reads its source from a checkpoint, hands messages to its
 * consumers by strategy within their buffer sizes, retries, times out and parks them, and
 * checkpoints the position below which every message has been handled.
 */
export class SubscriptionGroup {
  private readonly filter: EventFilter | undefined;
  private readonly consumers: Consumer[] = [];
  private readonly outstanding = new Map<string, Message>();
  private retryQueue: Message[] = [];
  private readBuffer: Message[] = [];
  private slots: Slot[] = [];
  private slotHead = 0;
  private cursor = 0;
  private lastKnown: number | undefined;
  private safePoint: number | undefined;
  private lastCheckpoint: number | undefined;
  private processedSinceCheckpoint = 0;
  private totalItems = 0;
  private totalItemsAtLastMeasurement = 0;
  private lastMeasuredAt = performance.now();
  private parkedCount = 0;
  private rotation = 0;
  private pumping = false;
  private pumpScheduled = false;
  private sourceExhausted = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly unsubscribe: () => void;

  constructor(
    private readonly log: EventLog,
    readonly definition: GroupDefinition,
  ) {
    const source = definition.source;
    const stored = source.kind === "all" ? source.filter : undefined;
    const created = stored ? createFilter(stored.on, stored) : undefined;
    this.filter = typeof created === "string" ? undefined : created;
    this.restorePosition();
    this.parkedCount = this.countParked();
    this.unsubscribe = log.onAppended(() => {
      this.sourceExhausted = false;
      this.schedulePump();
    });
    const { messageTimeoutMs, checkPointAfterMs } = definition.settings;
    if (messageTimeoutMs > 0) {
      this.timers.push(setInterval(() => this.expireTimedOut(), Math.min(1000, Math.max(50, messageTimeoutMs / 4))));
    }
    this.timers.push(setInterval(() => this.checkpoint(false), Math.max(10, checkPointAfterMs)));
    for (const timer of this.timers) timer.unref();
  }

  get name(): string {
    return this.definition.group;
  }

  get consumerCount(): number {
    return this.consumers.length;
  }

  /** Stops delivering and drops every consumer; in-flight messages are redelivered to whoever subscribes next. */
  close(reason: "deleted" | "updated" | "stopped"): void {
    this.unsubscribe();
    for (const timer of this.timers) clearInterval(timer);
    for (const consumer of [...this.consumers]) consumer.drop(reason);
    this.consumers.length = 0;
  }

  /** Writes the checkpoint now if there is anything new to record, e.g. when the server stops. */
  flush(): void {
    this.checkpoint(true);
  }

  addConsumer(consumer: Consumer): void {
    this.consumers.push(consumer);
    this.schedulePump();
  }

  removeConsumer(consumer: Consumer): void {
    const index = this.consumers.indexOf(consumer);
    if (index < 0) return;
    this.consumers.splice(index, 1);
    for (const message of [...this.outstanding.values()]) {
      if (message.consumer === consumer) this.retry(message);
    }
    this.schedulePump();
  }

  ack(ids: readonly string[]): void {
    for (const id of ids) {
      const message = this.takeOutstanding(id);
      if (message) this.complete(message);
    }
    this.pumpNow();
  }

  nack(ids: readonly string[], action: NackAction, reason: string): void {
    for (const id of ids) {
      const message = this.takeOutstanding(id);
      if (!message) continue;
      switch (action) {
        case "park":
          this.park(message, `Client explicitly NAK'ed message.\n${reason}`);
          break;
        case "skip":
        case "stop":
          // EventStoreDB's Stop does nothing more than forget the message, exactly like Skip.
          this.complete(message);
          break;
        case "retry":
        case "unknown":
          this.retry(message);
          break;
      }
    }
    this.pumpNow();
  }

  /**
   * Moves parked messages numbered below `stopAt` back into the retry queue, delivered with the
   * parked link (whose id the client acknowledges), then truncates the parked stream behind them.
   */
  replayParked(stopAt: number | undefined): void {
    const parkedStream = parkedStreamOf(this.definition.source, this.name);
    const links = this.log.readStream(parkedStream, "start", "forwards", Number.MAX_SAFE_INTEGER);
    if (!Array.isArray(links)) return;
    const replayed = links.filter((link) => stopAt === undefined || link.revision < stopAt);
    const last = replayed.at(-1);
    if (!last) return;
    for (const link of replayed) {
      const original = this.log.resolveLink(link);
      if (original) {
        this.retryQueue.push({
          event: original,
          link,
          unresolved: false,
          ackId: link.eventId,
          slot: undefined,
          retryCount: 0,
          consumer: undefined,
          deadline: 0,
        });
      }
    }
    this.log.append(metastreamOf(parkedStream), { kind: "any" }, [
      jsonEvent(METADATA_EVENT_TYPE, { $tb: last.revision + 1, $acl: ADMIN_ONLY_ACL }),
    ]);
    this.parkedCount = this.countParked();
    this.schedulePump();
  }

  /**
   * The group's statistics. As on EventStoreDB, the rates and "since last measurement" counts cover the
   * time since statistics were last asked for, so asking resets them.
   */
  info(): GroupStatistics {
    const now = performance.now();
    const elapsedSeconds = (now - this.lastMeasuredAt) / 1000;
    const perSecond = (items: number): number => (elapsedSeconds > 0 ? Math.floor(items / elapsedSeconds) : 0);
    this.lastMeasuredAt = now;
    const sinceLast = this.totalItems - this.totalItemsAtLastMeasurement;
    this.totalItemsAtLastMeasurement = this.totalItems;
    return {
      consumers: this.consumers.map((consumer) => {
        const consumerSinceLast = consumer.totalItems - consumer.totalItemsAtLastMeasurement;
        consumer.totalItemsAtLastMeasurement = consumer.totalItems;
        return {
          id: consumer.id,
          from: consumer.from,
          username: consumer.username,
          connectionName: consumer.connectionName,
          totalItems: consumer.totalItems,
          countSinceLastMeasurement: consumerSinceLast,
          averageItemsPerSecond: perSecond(consumerSinceLast),
          inFlight: consumer.inFlight,
          availableSlots: Math.max(0, consumer.capacity - consumer.inFlight),
          measurements: consumer.statistics?.measurements() ?? [],
        };
      }),
      status: this.sourceExhausted && this.readBuffer.length === 0 ? "Live" : "Behind",
      totalItems: this.totalItems,
      countSinceLastMeasurement: sinceLast,
      averagePerSecond: perSecond(sinceLast),
      lastCheckpoint: this.lastCheckpoint === undefined ? "" : formatPosition(this.definition.source, this.lastCheckpoint),
      lastKnown: this.lastKnown === undefined ? "" : formatPosition(this.definition.source, this.lastKnown),
      readBufferCount: this.readBuffer.length,
      retryBufferCount: this.retryQueue.length,
      inFlight: this.outstanding.size,
      parked: this.parkedCount,
    };
  }

  private restorePosition(): void {
    const { source, settings } = this.definition;
    const checkpointStream = checkpointStreamOf(source, this.name);
    const last = this.log.readStream(checkpointStream, "end", "backwards", 1);
    const stored = Array.isArray(last) && last[0] ? parseCheckpoint(last[0].data) : undefined;
    if (stored !== undefined) {
      this.lastCheckpoint = stored;
      this.safePoint = stored;
      this.lastKnown = stored;
      this.cursor = stored + 1;
      return;
    }
    const start = settings.startFrom;
    if (start.kind === "start") this.cursor = 0;
    else if (start.kind === "at") this.cursor = start.value;
    else this.cursor = source.kind === "all" ? this.log.endPosition() : this.log.streamInfo(source.stream).last + 1;
  }

  private countParked(): number {
    const parkedStream = parkedStreamOf(this.definition.source, this.name);
    const { last, metadata } = this.log.streamInfo(parkedStream);
    return Math.max(0, last - (metadata.truncateBefore ?? 0) + 1);
  }

  /**
   * Hands out messages right after an ack or nack, as EventStoreDB does: batching them first would
   * make the order of retried and new messages depend on how the client's packets happened to arrive.
   */
  private pumpNow(): void {
    if (this.pumping) this.schedulePump();
    else this.pump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      let scanned = 0;
      while (this.consumers.some((consumer) => consumer.inFlight < consumer.capacity)) {
        const fromRetry = this.retryQueue.length > 0;
        if (!fromRetry && this.readBuffer.length === 0) {
          if (scanned >= MAX_SCAN_PER_PUMP) {
            this.schedulePump();
            break;
          }
          const read = this.readSource();
          scanned += read;
          // A batch the filter emptied completely is no reason to stop: nothing else would wake this
          // group until an unrelated append, so read on until a match or the end of the source.
          if (this.readBuffer.length === 0) {
            if (read > 0 && !this.sourceExhausted) continue;
            break;
          }
        }
        const message = fromRetry ? this.retryQueue[0] : this.readBuffer[0];
        if (!message) break;
        const consumer = chooseConsumer(this.definition.settings.consumerStrategy, this.consumers, message.event, this.rotation);
        if (!consumer) break;
        this.rotation += 1;
        if (fromRetry) this.retryQueue.shift();
        else this.readBuffer.shift();
        this.dispatch(message, consumer);
      }
    } catch (error) {
      // A read the storage refused is tried again later; the group and its server stay up.
      reportStorageFault(`delivery to group ${this.name}`, error);
      const retry = setTimeout(() => this.schedulePump(), STORAGE_RETRY_MS);
      retry.unref();
    } finally {
      this.pumping = false;
    }
  }

  private dispatch(message: Message, consumer: Consumer): void {
    message.consumer = consumer;
    message.deadline = Date.now() + this.definition.settings.messageTimeoutMs;
    this.outstanding.set(message.ackId, message);
    consumer.inFlight += 1;
    consumer.totalItems += 1;
    consumer.statistics?.start(message.ackId);
    this.totalItems += 1;
    consumer.deliver(message);
  }

  /** Reads the next batch of the source into the read buffer; returns how many records it scanned. */
  private readSource(): number {
    if (this.sourceExhausted) return 0;
    const { source, settings } = this.definition;
    const batch = Math.max(1, settings.readBatchSize);
    let records: StoredEvent[];
    if (source.kind === "stream") {
      const page = this.log.readStream(source.stream, this.cursor, "forwards", batch);
      records = Array.isArray(page) ? page : [];
    } else {
      records = this.log.readAll(this.cursor, "forwards", batch);
    }
    if (records.length < batch) this.sourceExhausted = true;
    for (const record of records) {
      const position = source.kind === "stream" ? record.revision : record.position;
      this.cursor = position + 1;
      // What `$all` never shows (the epoch at position 0, $all groups' own streams) is no position of the group's.
      if (source.kind === "all" && isHiddenFromAll(record.streamId)) continue;
      this.lastKnown = position;
      const slot: Slot = { position, done: false };
      this.slots.push(slot);
      if (source.kind === "all" && !selectsFromAll(this.filter, record)) {
        slot.done = true;
        continue;
      }
      this.readBuffer.push(this.toMessage(record, slot, 0));
    }
    this.advanceSafePoint();
    return records.length;
  }

  private toMessage(record: StoredEvent, slot: Slot | undefined, retryCount: number): Message {
    const resolving = this.definition.settings.resolveLinkTos && record.type === LINK_EVENT_TYPE;
    const resolved = resolving ? this.log.resolveLink(record) : undefined;
    return {
      event: resolved ?? record,
      link: resolved ? record : undefined,
      unresolved: resolving && !resolved,
      ackId: record.eventId,
      slot,
      retryCount,
      consumer: undefined,
      deadline: 0,
    };
  }

  private takeOutstanding(id: string): Message | undefined {
    const message = this.outstanding.get(id);
    if (!message) return undefined;
    this.outstanding.delete(id);
    if (message.consumer) {
      message.consumer.inFlight -= 1;
      message.consumer.statistics?.end(id);
    }
    message.consumer = undefined;
    return message;
  }

  private complete(message: Message): void {
    if (message.slot) {
      message.slot.done = true;
      this.advanceSafePoint();
    }
    this.processedSinceCheckpoint += 1;
    if (this.processedSinceCheckpoint >= this.definition.settings.maxCheckPointCount) this.checkpoint(true);
  }

  private retry(message: Message): void {
    this.outstanding.delete(message.ackId);
    if (message.consumer) {
      message.consumer.inFlight -= 1;
      message.consumer.statistics?.end(message.ackId);
    }
    message.consumer = undefined;
    if (message.retryCount >= this.definition.settings.maxRetryCount) {
      this.park(message, `Reached retry count of ${this.definition.settings.maxRetryCount}`);
      return;
    }
    message.retryCount += 1;
    this.retryQueue.push(message);
  }

  private park(message: Message, reason: string): void {
    try {
      this.appendParked(message, reason);
    } catch (error) {
      // Not parked is not lost: the message goes back to be delivered again, and parking is retried then.
      reportStorageFault(`parking a message of group ${this.name}`, error);
      this.retryQueue.push(message);
      return;
    }
    this.parkedCount = this.countParked();
    this.complete(message);
  }

  private appendParked(message: Message, reason: string): void {
    const original = message.event;
    const parkedStream = parkedStreamOf(this.definition.source, this.name);
    this.log.append(parkedStream, { kind: "any" }, [
      {
        id: crypto.randomUUID(),
        type: LINK_EVENT_TYPE,
        contentType: "application/octet-stream",
        data: Buffer.from(`${original.revision}@${original.streamId}`, "utf8"),
        metadata: Buffer.from(
          JSON.stringify({ added: new Date().toISOString(), reason, subscriptionEventNumber: message.slot?.position ?? 0 }),
          "utf8",
        ),
      },
    ]);
  }

  private expireTimedOut(): void {
    const now = Date.now();
    let expired = false;
    for (const message of [...this.outstanding.values()]) {
      if (message.deadline <= now) {
        this.retry(message);
        expired = true;
      }
    }
    if (expired) this.schedulePump();
  }

  private advanceSafePoint(): void {
    while (this.slotHead < this.slots.length) {
      const slot = this.slots[this.slotHead];
      if (!slot || !slot.done) break;
      this.safePoint = slot.position;
      this.slotHead += 1;
    }
    if (this.slotHead > 1024 && this.slotHead * 2 > this.slots.length) {
      this.slots = this.slots.slice(this.slotHead);
      this.slotHead = 0;
    }
  }

  private checkpoint(force: boolean): void {
    if (this.safePoint === undefined || this.safePoint === this.lastCheckpoint) return;
    if (!force && this.processedSinceCheckpoint < this.definition.settings.minCheckPointCount) return;
    try {
      this.writeCheckpoint();
    } catch (error) {
      // The checkpoint stays where it was and is written by the next timer tick; at worst a restart redelivers.
      reportStorageFault(`checkpoint of group ${this.name}`, error);
    }
  }

  private writeCheckpoint(): void {
    if (this.safePoint === undefined) return;
    const { source } = this.definition;
    const checkpointStream = checkpointStreamOf(source, this.name);
    if (this.lastCheckpoint === undefined && this.log.streamInfo(checkpointStream).last < 0) {
      this.log.append(metastreamOf(checkpointStream), { kind: "any" }, [
        jsonEvent(METADATA_EVENT_TYPE, { $maxCount: 2, $acl: { ...ADMIN_ONLY_ACL, $mr: "$all" } }),
      ]);
    }
    // The position is stored as a JSON string, for streams too: "5" or "C:<commit>/P:<prepare>".
    this.log.append(checkpointStream, { kind: "any" }, [jsonEvent(CHECKPOINT_EVENT_TYPE, formatPosition(source, this.safePoint))]);
    this.lastCheckpoint = this.safePoint;
    this.processedSinceCheckpoint = 0;
  }
}

export interface GroupStatistics {
  readonly consumers: readonly {
    readonly id: string;
    readonly from: string;
    readonly username: string;
    readonly connectionName: string;
    readonly totalItems: number;
    readonly countSinceLastMeasurement: number;
    readonly averageItemsPerSecond: number;
    readonly inFlight: number;
    readonly availableSlots: number;
    readonly measurements: readonly Measurement[];
  }[];
  readonly status: string;
  readonly totalItems: number;
  readonly countSinceLastMeasurement: number;
  readonly averagePerSecond: number;
  readonly lastCheckpoint: string;
  readonly lastKnown: string;
  readonly readBufferCount: number;
  readonly retryBufferCount: number;
  readonly inFlight: number;
  readonly parked: number;
}

const jsonEvent = (type: string, data: unknown): ProposedEvent => ({
  id: crypto.randomUUID(),
  type,
  contentType: "application/json",
  data: Buffer.from(data === undefined ? "" : JSON.stringify(data), "utf8"),
  metadata: new Uint8Array(0),
});

/** A checkpoint is a JSON revision for a stream, or a "C:<commit>/P:<prepare>" string for `$all`. */
const parseCheckpoint = (data: Uint8Array): number | undefined => {
  try {
    const value: unknown = JSON.parse(Buffer.from(data).toString("utf8"));
    if (typeof value === "number" && Number.isSafeInteger(value)) return value;
    if (typeof value === "string") {
      if (/^\d+$/.test(value)) return Number(value);
      const match = /^C:(\d+)\/P:(\d+)$/.exec(value);
      if (match?.[1]) return Number(match[1]);
    }
  } catch {
    return undefined;
  }
  return undefined;
};
