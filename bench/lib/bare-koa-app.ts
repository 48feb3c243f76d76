/**
 * The ceiling any Koa service on this machine can reach: Koa + @koa/router + @koa/bodyparser with
 * one JSON POST route that does no work. Run as its own process by the bench (`bare-koa.ts`); it
 * prints `listening <port>` once it accepts connections.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { bodyParser } from "@koa/bodyparser";
import { Router } from "@koa/router";
import Koa from "koa";

const app = new Koa();
const router = new Router();
router.post("/reservations", (ctx) => {
  // Echo a body of about the size the real route answers, so that the two write comparable bytes.
  ctx.status = 201;
  ctx.body = { id: randomUUID(), status: "placed", request: ctx.request.body, createdAt: new Date().toISOString() };
});
app.use(bodyParser()).use(router.routes()).use(router.allowedMethods());

const server = app.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.once("SIGTERM", () => server.close(() => process.exit(0)));
