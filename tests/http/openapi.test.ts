import { createConfig, lintFromString } from "@redocly/openapi-core";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { createRouter } from "../../src/http/app.js";
import { buildOpenApiDocument } from "../../src/http/openapi.js";
import { createLogger } from "../../src/logger.js";
import { createReadModels } from "../../src/application/read-models.js";
import { FakePayments, FakeProducts, FakeReadiness, FakeReadModelStore, FakeReservations, withTestServer } from "./support.js";
import { Metrics } from "../../src/metrics.js";

type Operation = {
  operationId?: string;
  security?: unknown[];
  parameters?: Array<{ name: string; in: string }>;
  responses: Record<string, unknown>;
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { properties?: Record<string, Record<string, unknown>>; required?: string[]; additionalProperties?: unknown }>;
    securitySchemes: Record<string, unknown>;
  };
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
  return (
    router.stack
      // The documentation page's own script and style files are not API operations.
      .filter((layer) => layer.path.toString() !== "/docs/:asset")
      .flatMap((layer) =>
        layer.methods
          .filter((method) => method !== "HEAD")
          .map((method): [string, string] => [method.toLowerCase(), layer.path.toString().replace(/:(\w+)/g, "{$1}")]),
      )
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
    const publicRoutes = ["get /products", "get /products/{id}", "get /health/live", "get /health/ready", "get /openapi.json", "get /docs"];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const route = `${method} ${path}`;
        if (route === "get /metrics") {
          // Loopback without credentials, or METRICS_TOKEN.
          expect(operation.security, route).toEqual([{}, { metricsToken: [] }]);
        } else if (publicRoutes.includes(route)) {
          expect(operation.security, route).toEqual([]);
        } else {
          expect(operation.security, route).toEqual([{ bearerAuth: [] }]);
          expect(operation.responses, route).toHaveProperty("401");
        }
      }
    }
  });

  it("names every operation with a unique operationId, and says where the server is", () => {
    const ids = Object.values(document.paths).flatMap((operations) => Object.values(operations).map((operation) => operation.operationId));
    expect(
      ids.every((id) => typeof id === "string" && /^[a-z][A-Za-z]+$/.test(id)),
      JSON.stringify(ids),
    ).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(document.paths["/reservations/{id}/cancel"]?.post?.operationId).toBe("cancelReservation");
    expect((document as unknown as { servers: unknown }).servers).toEqual([{ url: "/", description: expect.any(String) }]);
  });

  it("passes Redocly's recommended lint rules with no error", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const problems = await lintFromString({ source: JSON.stringify(document), absoluteRef: "openapi.json", config });
    const errors = problems
      .filter((problem) => problem.severity === "error")
      .map((problem) => `${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer ?? "?"}`);
    expect(errors).toEqual([]);
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
    await withTestServer(async (server) => {
      const response = await server.request("/openapi.json");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(await response.json()).toEqual(JSON.parse(JSON.stringify(document)));
    });
  });
});

describe("the interactive documentation at /docs", () => {
  it("serves Swagger UI from the service itself, with a CSP that lets only its own files run", async () => {
    await withTestServer(async (server) => {
      const page = await server.request("/docs");
      expect(page.status).toBe(200);
      expect(page.headers.get("content-type")).toContain("text/html");
      const csp = page.headers.get("content-security-policy") ?? "";
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toMatch(/script-src[^;]*(unsafe-inline|https?:)/);
      const html = await page.text();
      const referenced = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? "");
      expect(referenced.sort()).toEqual(["/docs/init.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"]);
      for (const [path, type] of [
        ["/docs/swagger-ui-bundle.js", "text/javascript"],
        ["/docs/swagger-ui.css", "text/css"],
        ["/docs/init.js", "text/javascript"],
      ] as const) {
        const asset = await server.request(path);
        expect(asset.status, path).toBe(200);
        expect(asset.headers.get("content-type"), path).toContain(type);
        expect((await asset.arrayBuffer()).byteLength, path).toBeGreaterThan(100);
      }
      expect(await (await server.request("/docs/init.js")).text()).toContain("openapi.json");
      // Only the listed files: nothing else under /docs, and no way out of it.
      for (const path of ["/docs/index.html", "/docs/package.json", "/docs/..%2F..%2Fpackage.json", "/docs/swagger-ui-bundle.js.map"]) {
        expect((await server.request(path)).status, path).toBe(404);
      }
    });
  });
});
