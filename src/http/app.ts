import { Router } from "@koa/router";
import Koa from "koa";
import type { PaymentService, ProductService, ReadinessProbe, ReservationService } from "../application/ports.js";
import type { ReadModels } from "../application/read-models.js";
import type { Logger } from "../logger.js";
import type { HttpMetrics } from "./http-metrics.js";
import { accessLog } from "./access-log.js";
import { authenticate } from "./auth.js";
import { jsonBody } from "./body.js";
import { errorHandler } from "./error-handler.js";
import { routeFallback } from "./fallback.js";
import { requestId } from "./request-id.js";
import { healthRoutes } from "./routes/health.js";
import { metricsRoutes } from "./routes/metrics.js";
import { docsRoutes } from "./routes/docs.js";
import { openApiRoutes } from "./routes/openapi.js";
import { paymentRoutes } from "./routes/payments.js";
import { productRoutes } from "./routes/products.js";
import { readModelRoutes } from "./routes/read-models.js";
import { reservationRoutes } from "./routes/reservations.js";
import { securityHeaders } from "./security-headers.js";
import { commandSlot, commandTiming } from "./write-guard.js";
import type { RequestDrain } from "./request-drain.js";
import type { AuthSettings, HttpSettings } from "./settings.js";
import type { AppState } from "./state.js";

export type { AppState } from "./state.js";

export interface AppDependencies {
  readonly config: { readonly auth: AuthSettings; readonly http: HttpSettings };
  readonly logger: Logger;
  readonly products: ProductService;
  readonly reservations: ReservationService;
  readonly payments: PaymentService;
  /** Lists, My Page and notifications (projections/: `createRedisReadModels(redis)`). */
  readonly readModels: ReadModels;
  readonly readiness: ReadinessProbe;
  readonly metrics: HttpMetrics;
  /** Shutdown: in-flight requests are counted, new ones refused 503 while it stops. */
  readonly drain?: RequestDrain;
}

/** Every route of the edge on one router, so `allowedMethods()` sees all methods of a path. */
export function createRouter(deps: AppDependencies): Router<AppState> {
  const router = new Router<AppState>();
  const support = {
    authenticate: authenticate(deps.config.auth.secret, deps.config.auth.tokens),
    jsonBody: jsonBody(deps.config.http.bodyLimitBytes, deps.config.http.bodyTimeoutMs),
    commandSlot: commandSlot(deps.config.http.admission, deps.metrics),
  };
  productRoutes(router, deps.products, support);
  reservationRoutes(router, deps.reservations, support, () => deps.metrics.unpinnedCharge());
  paymentRoutes(router, deps.payments, support);
  readModelRoutes(router, deps.readModels, support);
  healthRoutes(router, deps.readiness);
  metricsRoutes(router, deps.metrics, { token: deps.config.http.metricsToken });
  openApiRoutes(router);
  docsRoutes(router);
  return router;
}

/** The Koa application; the caller listens (`app.listen(port, host)` or `http.createServer(app.callback())`). */
export function createApp(deps: AppDependencies): Koa<AppState> {
  const app = new Koa<AppState>();
  const router = createRouter(deps);

  app.use(requestId(deps.logger));
  app.use(accessLog());
  app.use(securityHeaders());
  app.use(errorHandler({ isStopping: () => deps.drain?.isStopping ?? false }));
  if (deps.drain) app.use(deps.drain.middleware());
  app.use(commandTiming(deps.metrics));
  app.use(routeFallback());
  app.use(router.routes());
  app.use(router.allowedMethods());

  // The error handler answers every request error; what still reaches Koa failed while writing the response.
  app.on("error", (error: unknown) => deps.logger.error({ err: error }, "response error"));
  return app;
}

export interface OperationsDependencies {
  readonly config: { readonly http: HttpSettings };
  readonly logger: Logger;
  readonly readiness: ReadinessProbe;
  readonly metrics: HttpMetrics;
}

/** What a worker process serves: liveness, readiness and metrics, for orchestrators and scrapers. */
export function createOperationsApp(deps: OperationsDependencies): Koa<AppState> {
  const app = new Koa<AppState>();
  const router = new Router<AppState>();
  healthRoutes(router, deps.readiness);
  metricsRoutes(router, deps.metrics, { token: deps.config.http.metricsToken });
  app.use(requestId(deps.logger));
  app.use(securityHeaders());
  app.use(errorHandler());
  app.use(routeFallback());
  app.use(router.routes());
  app.use(router.allowedMethods());
  app.on("error", (error: unknown) => deps.logger.error({ err: error }, "response error"));
  return app;
}
