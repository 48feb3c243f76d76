import type { Socket } from "node:net";

/** What every HTTP/2 connection starts with (RFC 9113 §3.4); gRPC clients send it first, without an upgrade. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type Protocol = "http2" | "http1";

/**
 * Decides from the bytes seen so far, or answers undefined while they are still a prefix of the HTTP/2
 * preface (a client may send it in pieces).
 */
export const protocolOf = (bytes: Buffer): Protocol | undefined => {
  const length = Math.min(bytes.length, HTTP2_PREFACE.length);
  if (!bytes.subarray(0, length).equals(HTTP2_PREFACE.subarray(0, length))) return "http1";
  return length === HTTP2_PREFACE.length ? "http2" : undefined;
};

/** A connection that says nothing for this long is closed: it holds a socket and goes to no server. */
const SILENT_CONNECTION_MS = 30_000;

/**
 * Reads the first bytes of an accepted connection, puts them back, and hands the socket to the
 * server of its protocol, so that gRPC and the HTTP API share one port as on EventStoreDB.
 * Sockets that close before saying anything are simply dropped.
 */
export const routeByProtocol = (socket: Socket, route: (protocol: Protocol, socket: Socket) => void): void => {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const protocol = protocolOf(seen);
    if (!protocol) return;
    socket.off("data", onData);
    socket.off("error", onError);
    socket.off("timeout", onError);
    socket.setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    route(protocol, socket);
    // The server that took the socket attached its own readers; let the bytes flow to them.
    process.nextTick(() => {
      socket.resume();
    });
  };
  const onError = (): void => {
    socket.destroy();
  };
  socket.on("data", onData);
  socket.on("error", onError);
  socket.setTimeout(SILENT_CONNECTION_MS);
  socket.on("timeout", onError);
};
