import { describe, expect, it } from "vitest";
import { parseIfMatch, revisionETag } from "../../src/http/etag.js";
import { HttpProblem } from "../../src/http/problem.js";
import { PROBLEM_BASE, problemOf, productView, reservationView, SELLER, type TestServer, useTestServer } from "./support.js";

function failure(header: string): unknown {
  try {
    parseIfMatch(header);
    return undefined;
  } catch (error) {
    return error;
  }
}

describe("parseIfMatch", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    ["*", undefined],
    [" * ", undefined],
    ['W/"3"', 3],
    ['"3"', 3],
    ['  W/"0"  ', 0],
    ['W/"42",', 42],
  ])("reads %j as %j", (header, revision) => {
    expect(parseIfMatch(header)).toBe(revision);
  });

  it.each(["3", "W/3", 'w/"3"', '"3', 'W/"3" junk', '"a b"', '"3", "4"', 'W/"1",W/"2"', '*, "3"'])(
    "answers 400 invalid-if-match for %j",
    (header) => {
      expect(failure(header)).toMatchObject({ status: 400, code: "invalid-if-match" });
    },
  );

  it.each(['"abc"', '"-1"', '"01"', '"1.5"', '""', '"99999999999999999"'])(
    "answers 412 for the well-formed but unmatchable %j",
    (header) => {
      const error = failure(header);
      expect(error).toBeInstanceOf(HttpProblem);
      expect(error).toMatchObject({ status: 412, code: "revision-mismatch" });
    },
  );

  it("formats weak revision tags", () => {
    expect(revisionETag(7)).toBe('W/"7"');
  });
});

describe("ETag and If-Match over HTTP", () => {
  let server: TestServer;
  let seller: string;

  useTestServer((fixture) => ({ server, seller } = fixture));

  it("tags single resources with their revision", async () => {
    const product = productView({ revision: 5 });
    server.products.items.set(product.id, product);
    const response = await server.request(`/products/${product.id}`);
    expect(response.headers.get("etag")).toBe('W/"5"');
    expect(await response.json()).toMatchObject({ revision: 5 });
  });

  it("passes If-Match to the service as expectedRevision", async () => {
    const product = productView({ revision: 2, sellerId: SELLER });
    server.products.items.set(product.id, product);
    const response = await server.request(`/products/${product.id}`, {
      method: "PATCH",
      token: seller,
      headers: { "If-Match": 'W/"2"' },
      json: { capacity: 5 },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe('W/"3"');
    expect(server.products.calls.at(-1)).toMatchObject({ method: "update", context: { expectedRevision: 2 } });
  });

  it("sends no expectedRevision without If-Match, or with *", async () => {
    const reservation = reservationView();
    server.reservations.items.set(reservation.id, reservation);
    const customer = await server.token("customer");
    await server.request(`/reservations/${reservation.id}/cancel`, { method: "POST", token: customer });
    expect(server.reservations.calls.at(-1)?.context).not.toHaveProperty("expectedRevision");
    await server.request(`/reservations/${reservation.id}/cancel`, { method: "POST", token: customer, headers: { "If-Match": "*" } });
    expect(server.reservations.calls.at(-1)?.context).not.toHaveProperty("expectedRevision");
  });

  it("answers 400 for a malformed If-Match and 412 for one that cannot match, without calling the service", async () => {
    const product = productView({ sellerId: SELLER });
    server.products.items.set(product.id, product);
    const before = server.products.calls.length;
    const malformed = await server.request(`/products/${product.id}`, { method: "DELETE", token: seller, headers: { "If-Match": "3" } });
    expect(malformed.status).toBe(400);
    expect((await problemOf(malformed)).type).toBe(`${PROBLEM_BASE}invalid-if-match`);
    const unmatchable = await server.request(`/products/${product.id}`, {
      method: "DELETE",
      token: seller,
      headers: { "If-Match": '"v1"' },
    });
    expect(unmatchable.status).toBe(412);
    expect((await problemOf(unmatchable)).type).toBe(`${PROBLEM_BASE}revision-mismatch`);
    expect(server.products.calls.length).toBe(before);
  });
});
