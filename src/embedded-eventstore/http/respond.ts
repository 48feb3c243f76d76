import type { IncomingMessage, ServerResponse } from "node:http";

export const ATOM_JSON = "application/vnd.eventstore.atom+json";
export const EVENT_JSON = "application/vnd.eventstore.event+json";
export const EVENTS_JSON = "application/vnd.eventstore.events+json";
export const JSON_TYPE = "application/json";
export const OCTET_STREAM = "application/octet-stream";

/** A short answer with EventStoreDB's reason phrase as the status text and as a plain-text body. */
export const sendStatus = (
  response: ServerResponse,
  status: number,
  reason: string,
  headers: Readonly<Record<string, string>> = {},
): void => {
  response.writeHead(status, reason, { "Content-Type": "text/plain; charset=utf-8", ...headers });
  response.end(reason);
};

export const sendJson = (
  response: ServerResponse,
  body: unknown,
  contentType = JSON_TYPE,
  headers: Readonly<Record<string, string>> = {},
  status = 200,
): void => {
  response.writeHead(status, { "Content-Type": `${contentType}; charset=utf-8`, ...headers });
  response.end(JSON.stringify(body, null, 2));
};

/** Media types from an Accept header, best first (q-values honoured, order kept among equals). */
const accepted = (request: IncomingMessage): string[] => {
  const header = request.headers.accept;
  if (!header) return [];
  return header
    .split(",")
    .map((part, index) => {
      const [type = "", ...params] = part.trim().split(";");
      const q = params.map((param) => param.trim()).find((param) => param.startsWith("q="));
      return { type: type.trim().toLowerCase(), q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter((entry) => entry.type !== "" && entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((entry) => entry.type);
};

/**
 * Picks the first offered media type the client accepts. No Accept header, or a wildcard, gets the
 * first offer; undefined means nothing offered is acceptable (406).
 */
export const negotiate = (request: IncomingMessage, offers: readonly string[]): string | undefined => {
  const wanted = accepted(request);
  if (wanted.length === 0) return offers[0];
  for (const type of wanted) {
    if (type === "*/*" || type === "application/*") return offers[0];
    if (offers.includes(type)) return type;
  }
  return undefined;
};

export const readBody = (request: IncomingMessage, limit: number): Promise<Buffer | "too_large"> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on("end", () => resolve(tooLarge ? "too_large" : Buffer.concat(chunks)));
    request.on("error", reject);
  });

/** EventStoreDB's `updated` format: UTC with the fraction trimmed of trailing zeros (XmlConvert). */
export const atomTime = (micros: number): string => {
  const date = new Date(Math.floor(micros / 1000));
  const fraction = String(micros % 1_000_000)
    .padStart(6, "0")
    .replace(/0+$/, "");
  return `${date.toISOString().slice(0, 19)}${fraction ? `.${fraction}` : ""}Z`;
};
