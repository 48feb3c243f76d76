import type { IncomingMessage } from "node:http";
import { bodyParser } from "@koa/bodyparser";
import type { Middleware } from "koa";
import { HttpProblem } from "./problem.js";
import type { AppState } from "./state.js";

/** A bodiless POST from fetch still sends `Content-Length: 0`; that is "no body", not "a body of no type". */
function carriesBody(req: IncomingMessage): boolean {
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const length = Number(req.headers["content-length"] ?? "0");
  return !Number.isFinite(length) || length > 0;
}

/**
 * zlib's errors carry no HTTP status: they are the client's bad compressed body. Gzip and deflate
 * fail with `Z_…` codes, brotli with `ERR_…` codes (e.g. `ERR__ERROR_FORMAT_PADDING_1`) and
 * "Decompression failed".
 */
function isCorruptCompression(error: Error): boolean {
  if (!("code" in error) || typeof error.code !== "string") return false;
  return error.code.startsWith("Z_") || (error.code.startsWith("ERR_") && /decompression failed/i.test(error.message));
}

/**
 * For routes that take a JSON body: 415 unless it is `application/json` (or `+json`), 413 past
 * `limitBytes` (counted after decompression), 400 for malformed JSON or a bare JSON scalar, 408 when
 * the body has not fully arrived within `timeoutMs` (the connection is then closed). No body at all
 * reads as `{}`, so routes whose fields are all optional accept an empty request.
 * The parsed value lands on `ctx.request.body` as `unknown`; routes validate it with zod.
 */
export function jsonBody(limitBytes: number, timeoutMs: number): Middleware<AppState> {
  const parse = bodyParser({
    // Whatever passed the media-type check below is parsed as JSON, including `+json` types
    // the parser does not list (it would otherwise silently leave the body empty).
    detectJSON: () => true,
    enableTypes: ["json"],
    jsonStrict: true,
    jsonLimit: limitBytes,
    encoding: "utf-8",
    onError: (error) => {
      throw isCorruptCompression(error)
        ? new HttpProblem(400, "invalid-body", { detail: "the request body could not be decompressed" })
        : error;
    },
  });
  return async (ctx, next) => {
    const charset = ctx.request.charset.toLowerCase();
    // JSON is UTF-8 (RFC 8259): a body declared in another charset would be misread, so it is refused.
    if (
      carriesBody(ctx.req) &&
      (ctx.request.is("application/json", "+json") === false || (charset !== "" && charset !== "utf-8" && charset !== "utf8"))
    ) {
      throw new HttpProblem(415, "unsupported-media-type", {
        detail: "the request body must be application/json in UTF-8",
        headers: { "Accept-Post": "application/json" },
      });
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new HttpProblem(408, "request-timeout", {
              detail: `the request body did not arrive within ${timeoutMs} ms`,
              headers: { Connection: "close" },
            }),
          ),
        timeoutMs,
      );
    });
    // The deadline covers reading the body only, not what the route does with it.
    const parsing = parse(ctx, () => {
      clearTimeout(timer);
      return next();
    });
    // When the deadline wins, the abandoned read fails as the connection closes: nothing to report.
    parsing.catch(() => undefined);
    try {
      await Promise.race([parsing, deadline]);
    } finally {
      clearTimeout(timer);
    }
  };
}
