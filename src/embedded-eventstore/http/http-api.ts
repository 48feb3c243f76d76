import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { EventLog } from "../log/event-log.js";
import type { GroupCommit } from "../log/group-commit.js";
import type { PersistentSubscriptions } from "../persistent/persistent-subscriptions.js";
import { getAll } from "./all-reads.js";
import { LongPolls } from "./long-poll.js";
import { nodeRoute } from "./node-routes.js";
import { negotiate, sendStatus } from "./respond.js";
import { getStream } from "./stream-reads.js";
import { deleteStream, postToStream } from "./stream-writes.js";
import { subscriptionRoute } from "./subscription-routes.js";
import { serveWeb } from "./web-assets.js";

export interface HttpApiDependencies {
  readonly log: EventLog;
  readonly commits: GroupCommit;
  readonly subscriptions: PersistentSubscriptions;
  readonly maxAppendSize: number;
}

export interface HttpApi {
  readonly server: Server;
  /** Ends long polls and open keep-alive connections. */
  close(): void;
}

/** Path segments, each percent-decoded (`%24all` is `$all`); undefined for a malformed escape. */
const segmentsOf = (pathname: string): string[] | undefined => {
  try {
    return pathname
      .split("/")
      .slice(1)
      .map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
};

const prefersHtml = (request: IncomingMessage): boolean =>
  negotiate(request, ["application/vnd.eventstore.atom+json", "text/html"]) === "text/html";

/**
 * EventStoreDB's HTTP API (the AtomPub reads and writes, persistent-subscription statistics, node
 * info) and the stream browser, as an `http.Server` that never listens itself: connections reach it
 * from the port it shares with gRPC.
 */
export const createHttpApi = (dependencies: HttpApiDependencies): HttpApi => {
  const { log, commits, subscriptions } = dependencies;
  const startedAt = new Date();
  const longPolls = new LongPolls(log);
  const readContext = { log, longPolls };
  const writeContext = { commits, log, maxAppendSize: dependencies.maxAppendSize };

  const handle = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? "/", "http://localhost");
    const segments = segmentsOf(url.pathname);
    response.setHeader("Access-Control-Allow-Origin", "*");
    response.setHeader("Access-Control-Expose-Headers", "Location, ES-CurrentVersion, ES-Position, ETag");
    if (!segments) return sendStatus(response, 400, "Bad Request");
    const [first, ...rest] = segments;
    const method = request.method ?? "GET";
    if (url.pathname === "/" || url.pathname === "/web") {
      response.writeHead(302, { Location: "/web/" });
      response.end();
      return;
    }
    if (first === "web" && method === "GET") return serveWeb(response, rest.join("/"));
    if (first === "streams" && rest[0] !== undefined) {
      // `/streams/{stream}/` is the stream itself (EventStoreDB redirects there).
      const [stream, ...below] = (rest.at(-1) === "" && rest.length > 1 ? rest.slice(0, -1) : rest) as [string, ...string[]];
      if (method === "GET" || method === "HEAD") {
        // A browser asking for a stream gets the stream browser, as EventStoreDB sends it to its web UI.
        if (prefersHtml(request)) {
          const event = below.length === 1 && /^\d+$/.test(below[0] ?? "") ? `/${below[0]}` : "";
          const page = stream === "$all" ? "/web/#/all" : `/web/#/streams/${encodeURIComponent(stream)}${event}`;
          response.writeHead(302, { Location: page });
          response.end();
          return;
        }
        if (stream === "$all") return getAll(readContext, request, response, below, url.searchParams);
        return getStream(readContext, request, response, stream, below, url.searchParams);
      }
      if (method === "POST" && below.length === 0) return postToStream(writeContext, request, response, stream, undefined);
      if (method === "POST" && below.length === 2 && below[0] === "incoming") {
        return postToStream(writeContext, request, response, stream, below[1]);
      }
      if (method === "DELETE" && below.length === 0) return deleteStream(writeContext, request, response, stream);
      return sendStatus(response, 405, "Method Not Allowed");
    }
    if (first === "subscriptions") {
      return subscriptionRoute(
        subscriptions,
        request,
        response,
        rest.filter((segment) => segment !== ""),
        url.searchParams,
      );
    }
    if (nodeRoute(log, startedAt, request, response, url.pathname, url.searchParams)) return;
    sendStatus(response, 404, "Not Found");
  };

  const server = createServer({ keepAliveTimeout: 5000 }, (request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) sendStatus(response, 500, "Internal Server Error");
      else response.destroy();
    });
  });
  return {
    server,
    close: () => {
      longPolls.stop();
      server.closeAllConnections();
    },
  };
};
