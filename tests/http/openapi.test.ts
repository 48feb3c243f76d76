import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createRouter } from "../../src/http/app.js";
import { buildOpenApiDocument } from "../../src/http/openapi.js";
import { createLogger } from "../../src/logger.js";
import { createReadModels } from "../../src/application/read-models.js";
import { FakePayments, FakeProducts, FakeReadiness, FakeReadModelStore, FakeReservations, startTestServer } from "./support.js";
import { Metrics } from "../../src/metrics.js";

type Operation = { security?: unknown[]; parameters?: Array<{ name: string; in: string }>; responses: Record<string, unknown> };
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, Record<string, unknown>>; required?: string[]; additionalProperties?: unknown }>; securitySchemes: Record<string, unknown> };
};

const document = buildOpenApiDocument() as unknown as Document;

function routesOfTheApp(): Array<[string, string]> {
  const router = createRouter({
    config: loadConfig({ NODE_ENV: "test" }),
    logger: createLogger({ level: "silent" }),
    metrics: new Metrics(),
    products: new FakeProducts(),
    reservations: new FakeReservations(),
    payments: new FakePayments(),
    readModels: createReadModels(new FakeReadModelStore()),
    readiness: new FakeReadiness(),
  });
  return router.stack.flatMap((layer) =>
    layer.methods
      .filter((method) => method !== "HEAD")
      .map((method): [string, string] => [method.toLowerCase(), layer.path.toString().replace(/:(\w+)/g, "{$1}")]),
  );
}

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1", () => {
    expect(document.openapi).toBe("3.1.0");
  });

  it("documents every route the app serves, and nothing it does not", () => {
    const served = routesOfTheApp();
    expect(served.length).toBeGreaterThanOrEqual(15);
    const documented = Object.entries(document.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method): [string, string] => [method, path]),
    );
    expect(documented.sort()).toEqual(served.sort());
  });

  it("has the bearer scheme, and requires it exactly where the app does", () => {
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer", bearerFormat: "JWT" });
    const publicRoutes = ["get /products", "get /products/{id}", "get /health/live", "get /health/ready", "get /metrics", "get /openapi.json"];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const isPublic = publicRoutes.includes(`${method} ${path}`);
        expect(operation.security === undefined, `${method} ${path}`).toBe(isPublic);
        if (!isPublic) expect(operation.responses, `${method} ${path}`).toHaveProperty("401");
      }
    }
  });

  it("carries API.md's constraints from the zod schemas", () => {
    const register = document.components.schemas.RegisterProduct;
    expect(register?.additionalProperties).toBe(false);
    expect([...(register?.required ?? [])].sort()).toEqual(["capacity", "name", "unitPrice"]);
    expect(register?.properties?.name).toMatchObject({ minLength: 1, maxLength: 200 });
    expect(register?.properties?.capacity).toMatchObject({ minimum: 1, maximum: 1_000_000 });
    expect(register?.properties?.holdTtlSeconds).toMatchObject({ minimum: 10, maximum: 86_400, default: 900 });
    expect(register?.properties?.currency).toMatchObject({ default: "KRW", pattern: "^[A-Z]{3}$" });
    expect(document.components.schemas.PlaceReservation?.properties?.quantity).toMatchObject({ minimum: 1, maximum: 10_000 });
    expect(document.components.schemas.Product?.required).toContain("revision");
    expect(document.components.schemas.Reservation?.required).toContain("paymentStatus");
    expect([...(document.components.schemas.Problem?.required ?? [])].sort()).toEqual(["status", "title", "type"]);
  });

  it("documents the Idempotency-Key and If-Match headers", () => {
    const place = document.paths["/reservations"]?.post;
    expect(place?.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: "idempotency-key", in: "header" })]));
    const cancel = document.paths["/reservations/{id}/cancel"]?.post;
    expect(cancel?.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: "if-match", in: "header" })]));
  });

  it("is served at /openapi.json", async () => {
    const server = await startTestServer();
    try {
      const response = await server.request("/openapi.json");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toEqual(JSON.parse(JSON.stringify(document)));
    } finally {
      await server.close();
    }
  });
});
