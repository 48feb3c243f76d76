import type { Router } from "@koa/router";
import type { ProductView } from "../../application/ports.js";
import type { ProductOperations } from "../../application/product-service.js";
import { ResourceNotFoundError } from "../../application/errors.js";
import { requireRole } from "../auth.js";
import { setRevisionETag } from "../etag.js";
import { productResponse } from "../representations.js";
import { IdParams, RegisterProductBody, UpdateProductBody } from "../schemas.js";
import type { AppContext, AppState } from "../state.js";
import { parseInput } from "../validation.js";
import { commandContext, type RouteSupport } from "./support.js";

function sendProduct(ctx: AppContext, product: ProductView, status = 200): void {
  ctx.status = status;
  setRevisionETag(ctx, product.revision);
  ctx.body = productResponse(product);
}

export function productRoutes(router: Router<AppState>, products: ProductOperations, support: RouteSupport): void {
  const sellerOrAdmin = requireRole("seller", "admin");

  router.post("/products", support.authenticate, sellerOrAdmin, support.jsonBody, support.commandSlot, async (ctx) => {
    const input = parseInput("body", RegisterProductBody, ctx.request.body);
    const product = await products.register(commandContext(ctx, { ifMatch: false }), input);
    ctx.set("Location", `/products/${product.id}`);
    sendProduct(ctx, product, 201);
  });

  router.get("/products/:id", async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    const product = await products.get(id);
    if (product === undefined) throw new ResourceNotFoundError("product", id);
    sendProduct(ctx, product);
  });

  router.patch("/products/:id", support.authenticate, sellerOrAdmin, support.jsonBody, support.commandSlot, async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    const input = parseInput("body", UpdateProductBody, ctx.request.body);
    sendProduct(ctx, await products.update(commandContext(ctx, { ifMatch: true }), id, input));
  });

  router.delete("/products/:id", support.authenticate, sellerOrAdmin, support.commandSlot, async (ctx) => {
    const { id } = parseInput("params", IdParams, ctx.params);
    sendProduct(ctx, await products.withdraw(commandContext(ctx, { ifMatch: true }), id));
  });
}
