/**
 * The paginated lists over HTTP against the real stack (API.md "Additions"): `?limit=&cursor=` on
 * `GET /products`, `/reservations`, `/payments` and `/notifications`, answers with `next` and
 * `nextCursor`; `?productId=` on `GET /reservations`; cursors that this API did not make are 400.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { NotificationResponse, PaymentResponse } from "../../src/http/schemas.js";
import {
  type ApiResponse,
  type ProductResponse,
  type ReservationResponse,
  eventually,
  expectValidationError,
  signFor,
  UNKNOWN_ID,
  useApi,
} from "./support.js";

const api = useApi();

interface ListBody<T> {
  readonly items: T[];
  readonly next: string | null;
  readonly nextCursor: string | null;
}

const READ_MODEL_WAIT = { timeoutMs: 15_000, intervalMs: 100 };

/** A token for a user of its own, so that this test's lists hold only what it made. */
const freshUser = (role: "customer" | "seller") => signFor(`${role}-${randomUUID()}`, role);

const list = async <T>(path: string, as?: string): Promise<ApiResponse<ListBody<T>>> => {
  const response = await api().get<ListBody<T>>(path, as === undefined ? {} : { as });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response;
};

/** Waits until one unpaged read (the largest page) shows exactly `count` items; returns their ids in order. */
const settledIds = async (path: string, count: number, as?: string): Promise<string[]> =>
  eventually(async () => {
    const separator = path.includes("?") ? "&" : "?";
    const { body } = await list<{ id: string }>(`${path}${separator}limit=1000`, as);
    expect(body.items).toHaveLength(count);
    expect(body.next).toBeNull();
    return body.items.map((item) => item.id);
  }, READ_MODEL_WAIT);

/** Waits until one unpaged read shows every one of `ids`; returns all ids it shows, in order. */
const idsOnceShowing = async (path: string, ids: readonly string[], as?: string): Promise<string[]> =>
  eventually(async () => {
    const separator = path.includes("?") ? "&" : "?";
    const { body } = await list<{ id: string }>(`${path}${separator}limit=1000`, as);
    const shown = body.items.map((item) => item.id);
    for (const id of ids) expect(shown).toContain(id);
    return shown;
  }, READ_MODEL_WAIT);

/**
 * Follows `next` links from `first` to the end, calling `between` after every page; returns the
 * ids seen, in order, and how many pages it took.
 */
const pageThrough = async (first: string, as: string | undefined, between: () => Promise<void> = async () => undefined) => {
  const seen: string[] = [];
  let pages = 0;
  let path: string | null = first;
  while (path !== null) {
    const response: ApiResponse<ListBody<{ id: string }>> = await list<{ id: string }>(path, as);
    pages += 1;
    seen.push(...response.body.items.map((item) => item.id));
    const { next, nextCursor } = response.body;
    if (next === null) {
      expect(nextCursor).toBeNull();
    } else {
      expect(nextCursor).not.toBeNull();
      // The link is this request with the next cursor: same path, same filters.
      const link = new URL(next, "http://x");
      expect(link.pathname).toBe(new URL(first, "http://x").pathname);
      expect(link.searchParams.get("cursor")).toBe(nextCursor);
      await between();
    }
    path = next;
    if (pages > 100) throw new Error("the pages never end");
  }
  return { seen, pages };
};

const registerProducts = async (count: number, token: string, fields: Record<string, unknown> = {}): Promise<ProductResponse[]> => {
  const made: ProductResponse[] = [];
  for (let i = 0; i < count; i += 1) {
    const response = await api().post<ProductResponse>("/products", {
      as: token,
      json: { name: `Item ${i}`, capacity: 50, unitPrice: 1000, ...fields },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    made.push(response.body);
  }
  return made;
};

const reserve = async (productId: string, token: string, extra: Record<string, unknown> = {}): Promise<ReservationResponse> => {
  const response = await api().post<ReservationResponse>("/reservations", { as: token, json: { productId, quantity: 1, ...extra } });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
};

/** A fresh seller with `count` new products, and the ids `path` lists once it shows every one of them. */
const sellerWithListedProducts = async (count: number, path: string, fields: Record<string, unknown> = {}) => {
  const seller = await freshUser("seller");
  const made = await registerProducts(count, seller, fields);
  const listed = await idsOnceShowing(
    path,
    made.map((product) => product.id),
  );
  return { seller, listed };
};

describe("GET /products pages", () => {
  it("through more items than one page: each once, newest first, also when products are added between pages", async () => {
    const { seller, listed: before } = await sellerWithListedProducts(7, "/products");
    expect(before.length).toBeGreaterThan(3);

    const added: string[] = [];
    const { seen, pages } = await pageThrough("/products?limit=3", undefined, async () => {
      const [product] = await registerProducts(1, seller, { name: "Added meanwhile" });
      if (product) added.push(product.id);
      // The new product is projected before the next page is read: the cursor must not move.
      await eventually(async () => {
        const ids = (await list<{ id: string }>("/products?limit=1000")).body.items.map((item) => item.id);
        expect(ids).toContain(product?.id);
      }, READ_MODEL_WAIT);
    });
    expect(seen).toEqual(before);
    expect(new Set(seen).size).toBe(seen.length);
    expect(pages).toBe(Math.ceil(before.length / 3));
    expect(added.length).toBeGreaterThan(0);
    for (const id of added) expect(seen).not.toContain(id);
  });

  it("keeps the status filter across pages, and its next link carries it", async () => {
    const { listed: all } = await sellerWithListedProducts(3, "/products?status=available", { name: "Filtered" });
    const first = await list<ProductResponse>("/products?status=available&limit=2");
    expect(first.body.next).toMatch(/^\/products\?/);
    expect(new URL(first.body.next ?? "", "http://x").searchParams.get("status")).toBe("available");
    const { seen } = await pageThrough("/products?status=available&limit=2", undefined);
    expect(seen).toEqual(all);
  });

  it("answers 100 items when no limit is given, and the whole list with next null when it fits", async () => {
    const { listed: all } = await sellerWithListedProducts(101, "/products", { name: "Many" });
    expect(all.length).toBeGreaterThan(100);

    const { body: first } = await list<ProductResponse>("/products");
    expect(first.items.map((product) => product.id)).toEqual(all.slice(0, 100));
    expect(first.nextCursor).not.toBeNull();
    expect(first.next).toBe(`/products?cursor=${first.nextCursor}`);
    const { body: whole } = await list<ProductResponse>("/products?limit=1000");
    expect(whole.items).toHaveLength(all.length);
    expect(whole.next).toBeNull();
    expect(whole.nextCursor).toBeNull();
  });
});

/** A fresh customer, and a fresh seller's product. */
const customerAndProduct = async () => {
  const seller = await freshUser("seller");
  const customer = await freshUser("customer");
  const [product] = await registerProducts(1, seller);
  if (!product) throw new Error("no product");
  return { customer, product };
};

describe("GET /reservations pages and filters", () => {
  it("pages a customer's own reservations, each once and in order, with reservations placed between pages", async () => {
    const { customer, product } = await customerAndProduct();
    const placed: string[] = [];
    for (let i = 0; i < 5; i += 1) placed.push((await reserve(product.id, customer)).id);
    const before = await settledIds("/reservations", 5, customer);
    expect([...before].sort()).toEqual([...placed].sort());

    const added: string[] = [];
    const { seen, pages } = await pageThrough("/reservations?limit=2", customer, async () => {
      const reservation = await reserve(product.id, customer);
      added.push(reservation.id);
      await settledIds("/reservations", 5 + added.length, customer);
    });
    expect(seen).toEqual(before);
    expect(pages).toBe(3);
    for (const id of added) expect(seen).not.toContain(id);
  });

  it("filters by product within what the caller may see: the customer's own, the seller's, everything for an admin", async () => {
    const seller = await freshUser("seller");
    const otherSeller = await freshUser("seller");
    const alice = await freshUser("customer");
    const bob = await freshUser("customer");
    const [mine, other] = await registerProducts(2, seller);
    if (!mine || !other) throw new Error("no products");
    const alicesOnMine = [(await reserve(mine.id, alice)).id, (await reserve(mine.id, alice)).id];
    const bobsOnMine = (await reserve(mine.id, bob)).id;
    const alicesOnOther = (await reserve(other.id, alice)).id;

    const aliceOnMine = await settledIds(`/reservations?productId=${mine.id}`, 2, alice);
    expect([...aliceOnMine].sort()).toEqual([...alicesOnMine].sort());
    expect(await settledIds(`/reservations?productId=${other.id}`, 1, alice)).toEqual([alicesOnOther]);
    const sellerOnMine = await settledIds(`/reservations?productId=${mine.id}`, 3, seller);
    expect([...sellerOnMine].sort()).toEqual([...alicesOnMine, bobsOnMine].sort());
    expect(await settledIds(`/reservations?productId=${mine.id}`, 3, "admin")).toEqual(sellerOnMine);
    // Another seller's product filter shows nothing of it.
    expect((await list<ReservationResponse>(`/reservations?productId=${mine.id}`, otherSeller)).body.items).toEqual([]);
    expect((await list<ReservationResponse>(`/reservations?productId=${UNKNOWN_ID}`, alice)).body.items).toEqual([]);

    // Filters combine, and pages keep them.
    const placedOnMine = await settledIds(`/reservations?productId=${mine.id}&status=placed`, 3, seller);
    expect(placedOnMine).toEqual(sellerOnMine);
    const { seen } = await pageThrough(`/reservations?productId=${mine.id}&status=placed&limit=1`, seller);
    expect(seen).toEqual(sellerOnMine);

    expectValidationError(await api().get(`/reservations?productId=not-an-id`, { as: alice }), "query.productId");
  });
});

describe("GET /payments and GET /notifications pages", () => {
  it("page a customer's payments and notifications, each once and in order", async () => {
    const { customer, product } = await customerAndProduct();
    for (let i = 0; i < 5; i += 1) await reserve(product.id, customer);

    const payments = await settledIds("/payments", 5, customer);
    const pagedPayments = await pageThrough("/payments?limit=2", customer);
    expect(pagedPayments.seen).toEqual(payments);
    expect(pagedPayments.pages).toBe(3);

    // Without a payment token, each placement is one `reservation.placed` notification.
    const notifications = await settledIds("/notifications", 5, customer);
    const pagedNotifications = await pageThrough("/notifications?limit=2", customer);
    expect(pagedNotifications.seen).toEqual(notifications);
    expect(pagedNotifications.pages).toBe(3);
    const { body } = await list<NotificationResponse>("/notifications?limit=1000", customer);
    expect(body.items.every((item) => item.audience === "customer" && item.kind === "reservation.placed")).toBe(true);
    const { body: paymentBody } = await list<PaymentResponse>("/payments?limit=1", customer);
    expect(paymentBody.items).toHaveLength(1);
  });
});

describe("GET /my-page pages", () => {
  interface MyPage {
    readonly customerId: string;
    readonly reservations: { reservationId: string }[];
    readonly next: string | null;
    readonly nextCursor: string | null;
  }

  it("shows every reservation unless told otherwise, and pages them with limit and cursor, each once and in order", async () => {
    const { customer, product } = await customerAndProduct();
    for (let i = 0; i < 5; i += 1) await reserve(product.id, customer);
    const whole = await eventually(async () => {
      const response = await api().get<MyPage>("/my-page", { as: customer });
      expect(response.status).toBe(200);
      expect(response.body.reservations).toHaveLength(5);
      expect(response.body.next).toBeNull();
      return response.body.reservations.map((entry) => entry.reservationId);
    }, READ_MODEL_WAIT);
    expect(whole).toEqual(await settledIds("/reservations", 5, customer));

    const seen: string[] = [];
    let path: string | null = "/my-page?limit=2";
    let pages = 0;
    while (path !== null) {
      const response: ApiResponse<MyPage> = await api().get<MyPage>(path, { as: customer });
      expect(response.status).toBe(200);
      seen.push(...response.body.reservations.map((entry) => entry.reservationId));
      path = response.body.next;
      pages += 1;
    }
    expect(seen).toEqual(whole);
    expect(pages).toBe(3);
    expectValidationError(await api().get("/my-page?cursor=nope!", { as: customer }), "query.cursor");
    expectValidationError(await api().get("/my-page?page=2", { as: customer }), "query.page", "unknown field");
  });
});

describe("cursors", () => {
  const forged = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");

  it.each([
    ["not base64url", "abc!def"],
    ["not JSON", Buffer.from("hello").toString("base64url")],
    ["the wrong shape", forged({ score: 1, member: "x" })],
    ["a score that is not a number", forged(["1", "x"])],
    ["an empty member", forged([1, ""])],
    ["far too long", "A".repeat(600)],
  ])("answer 400 validation-failed for a cursor that is %s, on every list", async (_what, cursor) => {
    const customer = await freshUser("customer");
    const query = `cursor=${encodeURIComponent(cursor)}`;
    expectValidationError(await api().get(`/products?${query}`), "query.cursor");
    expectValidationError(await api().get(`/reservations?${query}`, { as: customer }), "query.cursor");
    expectValidationError(await api().get(`/payments?${query}`, { as: customer }), "query.cursor");
    expectValidationError(await api().get(`/notifications?${query}`, { as: customer }), "query.cursor");
  });

  it("keep unknown query parameters and out-of-range limits a 400", async () => {
    expectValidationError(await api().get("/products?page=2"), "query.page", "unknown field");
    expectValidationError(await api().get("/products?offset=10"), "query.offset", "unknown field");
    expectValidationError(await api().get("/products?limit=0"), "query.limit");
    expectValidationError(await api().get("/products?limit=1001"), "query.limit");
  });

  it("past the end answer an empty last page", async () => {
    // Cursors are positions (a time and an id), not sessions: one older than everything ends the list.
    const customer = await freshUser("customer");
    const end = forged([0, "0"]);
    const { body } = await list<ReservationResponse>(`/reservations?cursor=${end}`, customer);
    expect(body).toEqual({ items: [], next: null, nextCursor: null });
  });
});
