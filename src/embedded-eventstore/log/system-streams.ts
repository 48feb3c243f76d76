import type { EventLog } from "./event-log.js";
import { METADATA_EVENT_TYPE } from "./types.js";

/**
 * A new insecure EventStoreDB node writes system events before any client does; the one that is
 * visible in `$all` is the metadata of its scavenge history stream. Writing it into a fresh log keeps
 * `$all` honest: code that forgets to skip `$`-prefixed streams or event types fails here as on a real server.
 */
export const writeSystemStreams = (log: EventLog): void => {
  if (log.headPosition() >= 0) return;
  const metadata = { $maxAge: 2_592_000, $acl: { $r: "$ops", $w: [], $d: [], $mr: [], $mw: [] } };
  log.append("$$$scavenges", { kind: "no_stream" }, [
    {
      id: crypto.randomUUID(),
      type: METADATA_EVENT_TYPE,
      contentType: "application/json",
      data: Buffer.from(JSON.stringify(metadata), "utf8"),
      metadata: new Uint8Array(0),
    },
  ]);
};
