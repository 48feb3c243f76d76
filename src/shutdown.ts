import type { Server } from "node:http";
import { Server as NetServer } from "node:net";
import type { RequestDrain } from "./http/request-drain.js";
import type { Logger } from "./logger.js";

export interface ShutdownSteps {
  readonly logger: Logger;
  /** How long requests in flight may take to finish. */
  readonly graceMs: number;
  readonly server: Server;
  readonly drain: RequestDrain;
  readonly stopWorkers: () => Promise<void>;
  /** The event store client, then the store itself (embedded), then what hangs off them. */
  readonly closeEventStore: () => Promise<void>;
}

/** Once every request is answered, connections get this long to flush before they are cut. */
const CONNECTION_FLUSH_MS = 1000;

/**
 * A clean stop: no new requests (new connections are refused, requests on kept-alive ones get 503),
 * those in flight may finish within the grace period and the rest are answered 503, then the
 * workers stop, then the event store client and the store. Nothing is cut from under a request, so
 * no answer is a 500 and nothing is logged as an unhandled error.
 */
export const stopInOrder = async (steps: ShutdownSteps): Promise<void> => {
  const { logger, server, drain } = steps;
  drain.stop();
  // net's close, not http's: http's also drops idle keep-alive connections, and a client that is
  // just then sending its next request on one sees the connection reset instead of an answer. Kept
  // open, that request gets a 503 with `Connection: close`, and the connection ends cleanly.
  const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
  const inFlight = drain.inFlightCount;
  const finished = await drain.idle(steps.graceMs);
  if (finished) {
    if (inFlight > 0) logger.info({ requests: inFlight }, "requests in flight finished");
  } else {
    const answered = drain.answerRemaining();
    logger.warn({ requests: answered, graceMs: steps.graceMs }, "requests still running after the shutdown grace period were answered 503");
  }
  logger.debug("shutdown: requests answered; stopping the workers");
  await steps.stopWorkers();
  logger.debug("shutdown: workers stopped; closing the event store");
  await steps.closeEventStore();
  logger.debug("shutdown: event store closed");
  const flushed = await Promise.race([
    closed.then(() => true),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CONNECTION_FLUSH_MS).unref()),
  ]);
  if (!flushed) server.closeAllConnections();
  // Ends http's own timers (header and request timeouts) that net's close left running.
  server.close();
};
