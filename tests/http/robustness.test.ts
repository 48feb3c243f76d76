import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Role } from "../../src/application/ports.js";
import { problemOf, productView, reservationView, SELLER, startTestServer, type TestServer } from "./support.js";

/** "No input ever produces a 500": hostile requests against every route, each answered 4xx (or 2xx). */
describe("no input produces a 500", () => {
  let server: TestServer;
  const ids: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ HTTP_BODY_LIMIT: "2kb" });
    const product = productView({ sellerId: SELLER });
    const reservation = reservationView();
    server.products.items.set(product.id, product);
    server.reservations.items.set(reservation.id, reservation);
    ids.push(product.id, reservation.id);
  });
  afterAll(() => server.close());

  const routes: ReadonlyArray<readonly [string, string, Role]> = [
    ["POST", "/products", "seller"],
    ["GET", "/products/{id}", "seller"],
    ["PATCH", "/products/{id}", "seller"],
    ["DELETE", "/products/{id}", "seller"],
    ["POST", "/reservations", "customer"],
    ["GET", "/reservations/{id}", "customer"],
    ["POST", "/reservations/{id}/cancel", "customer"],
    ["POST", "/reservations/{id}/accept", "seller"],
    ["POST", "/reservations/{id}/reject", "seller"],
    ["POST", "/reservations/{id}/progress", "seller"],
    ["POST", "/reservations/{id}/start", "customer"],
    ["POST", "/reservations/{id}/return", "customer"],
    ["GET", "/health/live", "admin"],
    ["GET", "/health/ready", "admin"],
    ["GET", "/openapi.json", "admin"],
  ];

  const idVariants = () => [ids[0] ?? "", ids[1] ?? "", "x", "%E0%A4%A", "..%2F..%2Fetc", "0".repeat(2000), "%00", "'%20OR%201=1"];
  const json = { "Content-Type": "application/json" };
  const bodies: ReadonlyArray<readonly [RequestInit["body"] | undefined, Record<string, string>]> = [
    [undefined, {}],
    ["{", json],
    ["null", json],
    ["[]", json],
    ["[1,2,3]", json],
    ['{"a":1}', json],
    ['{"name":{"$gt":""},"capacity":1e309,"unitPrice":-0,"quantity":"1","productId":null,"step":[],"reason":{}}', json],
    ["[".repeat(900) + "]".repeat(900), json],
    ['{"constructor":{"prototype":{"polluted":true}}}', json],
    ["\u0000\uFFFF", json],
    ['{"name":"x"}', { "Content-Type": "application/json; charset=utf-16" }],
    ['{"name":"x"}', { "Content-Type": "application/json", "Content-Encoding": "bogus" }],
    ["garbage", { "Content-Type": "application/json", "Content-Encoding": "gzip" }],
    ['{"name":"x"}', { "Content-Type": "text/plain" }],
    ['{"name":"x"}', { "Content-Type": "" }],
    ["x".repeat(5000), json],
  ];
  const headerVariants: ReadonlyArray<Record<string, string>> = [
    {},
    { "If-Match": 'W/"999999999999999999999"' },
    { "If-Match": "W/" },
    { "Idempotency-Key": "" },
    { "Idempotency-Key": "k".repeat(5000) },
    { "X-Request-Id": "x".repeat(5000) },
  ];

  it("answers every route's hostile variants with a non-5xx, and a problem body for errors", async () => {
    const seen = new Map<number, number>();
    for (const [method, template, role] of routes) {
      const token = await server.token(role);
      const hasBody = method === "POST" || method === "PATCH";
      const realPath = template.replace("{id}", template.startsWith("/products") ? (ids[0] ?? "") : (ids[1] ?? ""));
      const cases: Array<{ path: string; body?: RequestInit["body"]; headers: Record<string, string> }> = [
        ...(template.includes("{id}") ? idVariants().map((id) => ({ path: template.replace("{id}", id), headers: {} })) : []),
        ...(hasBody ? bodies.map(([body, headers]) => ({ path: realPath, body, headers })) : []),
        ...headerVariants.map((headers) => ({ path: realPath, headers })),
        { path: realPath, headers: { Authorization: "Bearer x.y.z" } },
      ];
      for (const { path, body, headers } of cases) {
        const response = await fetch(`${server.base}${path}`, {
          method,
          headers: { Authorization: `Bearer ${token}`, ...headers },
          ...(body === undefined ? {} : { body }),
        });
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
        const label = `${method} ${path.slice(0, 60)} ${JSON.stringify(headers).slice(0, 80)} ${typeof body === "string" ? body.slice(0, 40) : typeof body}`;
        expect(response.status, label).toBeLessThan(500);
        if (response.status >= 400) await problemOf(response);
        else await response.arrayBuffer();
      }
    }
    expect([...seen.keys()]).toEqual(expect.arrayContaining([200, 400, 401, 404, 413, 415]));
  });
});
