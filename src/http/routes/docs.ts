import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Router } from "@koa/router";
import type { AppState } from "../state.js";

interface Asset {
  readonly type: string;
  readonly file: string;
}

const swaggerUi = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
/**
 * The page and its init script are plain files in src/http/docs. Compiled code runs from dist/src/…,
 * where tsc copies nothing but JavaScript, so the source folder is looked up from there too (the
 * Docker image copies the folder into dist/).
 */
const own =
  [new URL("../docs/", import.meta.url), new URL("../../../../src/http/docs/", import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((folder) => existsSync(folder)) ?? fileURLToPath(new URL("../docs/", import.meta.url));

/** Only these files, from a fixed list: nothing from the request picks a path on disk. */
const ASSETS: Readonly<Record<string, Asset>> = {
  "swagger-ui.css": { type: "text/css; charset=utf-8", file: path.join(swaggerUi, "swagger-ui.css") },
  "swagger-ui-bundle.js": { type: "text/javascript; charset=utf-8", file: path.join(swaggerUi, "swagger-ui-bundle.js") },
  "init.js": { type: "text/javascript; charset=utf-8", file: path.join(own, "init.js") },
};

/**
 * Swagger UI's page allows its own scripts and styles (it sets inline styles) and calls back only to
 * this origin; the rest of the API keeps the CSP that lets nothing load.
 */
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** Interactive API documentation at /docs: Swagger UI (swagger-ui-dist) served from this process, no CDN. */
export function docsRoutes(router: Router<AppState>): void {
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer => {
    let content = cache.get(file);
    if (!content) {
      content = readFileSync(file);
      cache.set(file, content);
    }
    return content;
  };
  router.get("/docs", (ctx) => {
    ctx.set("Content-Security-Policy", DOCS_CSP);
    ctx.type = "text/html; charset=utf-8";
    ctx.body = read(path.join(own, "index.html"));
  });
  router.get("/docs/:asset", (ctx) => {
    const asset = ASSETS[ctx.params.asset ?? ""];
    if (!asset) return;
    ctx.set("Cache-Control", "public, max-age=3600");
    ctx.type = asset.type;
    ctx.body = read(asset.file);
  });
}
