import type { Router } from "@koa/router";
import { buildOpenApiDocument } from "../openapi.js";
import type { AppState } from "../state.js";

export function openApiRoutes(router: Router<AppState>): void {
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  router.get("/openapi.json", (ctx) => {
    document ??= buildOpenApiDocument();
    ctx.body = document;
  });
}
