import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { ServerResponse } from "node:http";
import { sendStatus } from "./respond.js";

const TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * The stream browser's files are plain static files next to the sources. Compiled code runs from
 * dist/src/…, where tsc copies nothing but JavaScript, so the source folder is looked up from there too.
 */
const webRoot = (): string | undefined =>
  [new URL("../web/", import.meta.url), new URL("../../../../src/embedded-eventstore/web/", import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((path) => existsSync(path));

const root = webRoot();
const FILES = new Set(["index.html", "app.js", "app.css"]);

/** `GET /web/…`: the stream browser. Only its own few files are served, never a path a client makes up. */
export const serveWeb = async (response: ServerResponse, file: string): Promise<void> => {
  const name = file === "" ? "index.html" : file;
  if (!root || !FILES.has(name)) return sendStatus(response, 404, "Not Found");
  const body = await readFile(`${root}${name}`);
  response.writeHead(200, {
    "Content-Type": TYPES[extname(name)] ?? "application/octet-stream",
    "Cache-Control": "no-cache",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
  });
  response.end(body);
};
