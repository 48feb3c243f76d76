import type { EventLog } from "./event-log.js";
import { METADATA_EVENT_TYPE, type ProposedEvent } from "./types.js";

const EPOCH_STREAM = "$epoch-information";

const jsonSystemEvent = (type: string, data: unknown): ProposedEvent => ({
  id: crypto.randomUUID(),
  type,
  contentType: "application/json",
  data: Buffer.from(JSON.stringify(data), "utf8"),
  metadata: new Uint8Array(0),
});

/**
 * A new insecure EventStoreDB node writes system records before any client does. Its first epoch
 * comes first, at position 0, in a stream that `$all` never shows: so no readable event is ever at
 * position 0, which clients take to mean "the start" (a `$all` group created from the first event
 * would otherwise read back as created from the start). The first record `$all` shows is the metadata
 * of the scavenge history stream: code that forgets to skip `$`-prefixed streams or event types fails
 * here as on a real server.
 */
export const writeSystemStreams = (log: EventLog): void => {
  if (log.headPosition() >= 0) return;
  log.append(EPOCH_STREAM, { kind: "no_stream" }, [
    jsonSystemEvent(EPOCH_STREAM, {
      epochPosition: 0,
      epochNumber: 0,
      epochId: crypto.randomUUID(),
      prevEpochPosition: -1,
      timeStamp: new Date().toISOString(),
      leaderInstanceId: crypto.randomUUID(),
    }),
  ]);
  const metadata = { $maxAge: 2_592_000, $acl: { $r: "$ops", $w: [], $d: [], $mr: [], $mw: [] } };
  log.append("$$$scavenges", { kind: "no_stream" }, [jsonSystemEvent(METADATA_EVENT_TYPE, metadata)]);
};
