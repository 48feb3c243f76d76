import type { IncomingMessage, ServerResponse } from "node:http";
import { cpus, freemem, loadavg, totalmem } from "node:os";
import type { EventLog } from "../log/event-log.js";
import { sendJson } from "./respond.js";

/** The EventStoreDB release whose HTTP API this server follows. */
export const COMPATIBLE_VERSION = "24.10.0";

/** `GET /info`: what EventStoreDB's UI reads to decide which pages to offer. */
const info = (response: ServerResponse): void =>
  sendJson(response, {
    dbVersion: COMPATIBLE_VERSION,
    esVersion: COMPATIBLE_VERSION,
    state: "leader",
    features: { projections: false, userManagement: false, atomPub: true },
    authentication: { type: "insecure", properties: {} },
  });

/** `GET /stats`: the process, machine and log figures that exist here, in EventStoreDB's shape. */
const stats = (log: EventLog, startedAt: Date, response: ServerResponse): void => {
  const memory = process.memoryUsage();
  const usage = process.cpuUsage();
  sendJson(response, {
    proc: {
      startTime: startedAt.toISOString(),
      id: process.pid,
      mem: memory.rss,
      // Percent of one core since start, as EventStoreDB reports its process's share.
      cpu: ((usage.user + usage.system) / 1000 / Math.max(1, process.uptime() * 1000)) * 100,
      threadsCount: 0,
      contentionsRate: 0,
      thrownExceptionsRate: 0,
      gc: { allocationSpeed: 0, gen0ItemsCount: 0, gen1ItemsCount: 0, gen2ItemsCount: 0, totalBytesInHeaps: memory.heapUsed },
    },
    sys: {
      cpu: ((loadavg()[0] ?? 0) / Math.max(1, cpus().length)) * 100,
      freeMem: freemem(),
      totalMem: totalmem(),
      loadavg: { "1m": loadavg()[0], "5m": loadavg()[1], "15m": loadavg()[2] },
    },
    es: {
      checksum: log.headPosition(),
      checksumNonFlushed: log.headPosition(),
      writer: {
        lastFlushSize: 0,
        lastFlushDelayMs: 0,
        meanFlushSize: 0,
        meanFlushDelayMs: 0,
        maxFlushSize: 0,
        maxFlushDelayMs: 0,
        queuedFlushMessages: 0,
      },
      queue: {},
    },
  });
};

/** Answers `/info`, `/stats`, `/health/live` and `/ping`; false when the request is for none of them. */
export const nodeRoute = (
  log: EventLog,
  startedAt: Date,
  request: IncomingMessage,
  response: ServerResponse,
  path: string,
  query: URLSearchParams,
): boolean => {
  if (request.method !== "GET" && request.method !== "HEAD") return false;
  switch (path) {
    case "/info":
      info(response);
      return true;
    case "/stats":
      stats(log, startedAt, response);
      return true;
    case "/health/live": {
      // 204 by default; `?liveCode=` picks another, as on EventStoreDB.
      const code = Number(query.get("liveCode") ?? 204);
      response.writeHead(Number.isInteger(code) && code >= 200 && code < 600 ? code : 204);
      response.end();
      return true;
    }
    case "/ping":
      sendJson(response, { text: "Ping request successfully handled" });
      return true;
    default:
      return false;
  }
};
