/**
 * The stream browser in a real browser: Debian's chromium driven by playwright-core, against the
 * service (ROLE=all, embedded event store) after real reservations were placed, paid and confirmed.
 * Nothing is downloaded: the browser is the system's (`CHROMIUM_PATH`, default /usr/bin/chromium).
 */
import { existsSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Browser, type Page, chromium } from "playwright-core";
import { PARK, START, jsonEvent, persistentSubscriptionToStreamSettingsFromDefaults } from "@eventstore/db-client";
import { type ReservationStory, startReservationStory } from "./reservation-story.js";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(executablePath);
if (!hasChromium) {
  console.warn(`stream browser test skipped: no chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

const ATOM = "application/vnd.eventstore.atom+json";

/** Pages render after their requests answer: wait for what they show, generously when the machine is busy. */
const poll = <T>(check: () => Promise<T> | T) => expect.poll(check, { timeout: 15_000, interval: 100 });

interface FeedEntry {
  readonly title: string;
  readonly eventType?: string;
}

describe.skipIf(!hasChromium)("stream browser in chromium", { timeout: 60_000 }, () => {
  let story: ReservationStory;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    story = await startReservationStory(12);
    browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await story?.stop();
  }, 30_000);

  const openPage = async (): Promise<Page> => {
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    return page;
  };

  const feed = async (path: string): Promise<FeedEntry[]> => {
    const response = await fetch(`${story.eventStoreUrl}${path}`, { headers: { Accept: ATOM } });
    expect(response.status, path).toBe(200);
    return ((await response.json()) as { entries: FeedEntry[] }).entries;
  };

  const rowTitles = (at: Page): Promise<string[]> => at.locator("#events tbody tr a.event").allTextContents();

  test("from the stream list to a reservation's stream, to an event, to its correlation stream", async () => {
    const at = await openPage();
    await at.goto(`${story.eventStoreUrl}/`);
    expect(new URL(at.url()).pathname).toBe("/web/");

    const reservationStream = `reservation-${story.reservation.id}`;
    const listed = at.locator("#recently-changed a.stream", { hasText: reservationStream });
    await listed.waitFor();
    await poll(() => at.locator("#recently-created a.stream", { hasText: reservationStream }).count()).toBe(1);
    await listed.click();

    await at.locator("h1 .stream-name", { hasText: reservationStream }).waitFor();
    await at.locator("#events a.event").first().waitFor();
    const expected = (await feed(`/streams/${reservationStream}`)).map((entry) => entry.title);
    expect(expected.length).toBeGreaterThanOrEqual(2);
    expect(await rowTitles(at)).toEqual(expected);
    const types = await at.locator("#events tbody td.type").allTextContents();
    expect(types.at(-1)).toBe("ReservationPlaced");
    expect(types).toContain("ReservationPaymentSettled");

    await at.locator("#events a.event", { hasText: `0@${reservationStream}` }).click();
    await poll(() => at.locator("#event-type").textContent()).toBe("ReservationPlaced");
    const data = JSON.parse((await at.locator("#event-data").textContent()) ?? "") as Record<string, unknown>;
    expect(data.reservationId).toBe(story.reservation.id);
    // The product's name holds markup: it is shown as text, never parsed.
    expect(data.productName).toBe(story.product.name);
    expect(await at.locator("#event-data b").count()).toBe(0);
    const metadata = JSON.parse((await at.locator("#event-metadata").textContent()) ?? "") as Record<string, unknown>;
    expect(metadata.$correlationId).toBe(story.reservation.id);

    await at.locator("#correlation").click();
    await at.locator("h1 .stream-name", { hasText: `$bc-${story.reservation.id}` }).waitFor();
    await at.locator("#events a.event").first().waitFor();
    const saga = (await rowTitles(at)).join("\n");
    // The whole saga is one click away: the hold on the product, the reservation, its payment.
    expect(saga).toContain(`@${reservationStream}`);
    expect(saga).toContain(`@payment-${story.reservation.id}`);
    expect(saga).toContain(`@product-${story.product.id}`);
    await at.close();
  });

  test("an event's causation link opens the event that caused it", async () => {
    interface BodyEntry {
      readonly eventId: string;
      readonly eventType: string;
      readonly eventNumber: number;
      readonly streamId: string;
      readonly metaData?: string;
    }
    const response = await fetch(`${story.eventStoreUrl}/streams/%24all/head/backward/2000?embed=body`, {
      headers: { Accept: ATOM, "ES-ResolveLinkTos": "false" },
    });
    const entries = ((await response.json()) as { entries: BodyEntry[] }).entries;
    const meta = (entry: BodyEntry): Record<string, unknown> =>
      entry.metaData ? (JSON.parse(entry.metaData) as Record<string, unknown>) : {};
    const saga = entries.filter((entry) => meta(entry).$correlationId === story.reservation.id);
    const byId = new Map(saga.map((entry) => [entry.eventId, entry]));
    const effect = saga.find((entry) => byId.has(String(meta(entry).$causationId)));
    expect(effect, "an event of the saga caused by another event of it").toBeDefined();
    const cause = byId.get(String(effect && meta(effect).$causationId));

    const at = await openPage();
    await at.goto(`${story.eventStoreUrl}/web/#/streams/${encodeURIComponent(effect?.streamId ?? "")}/${effect?.eventNumber}`);
    const link = at.locator("#causation a");
    await link.waitFor();
    expect(await link.textContent()).toBe(`${cause?.eventNumber}@${cause?.streamId} (${cause?.eventType})`);
    await link.click();
    await poll(() => at.locator("#event-type").textContent()).toBe(cause?.eventType);
    expect(await at.locator("h1").textContent()).toBe(`${cause?.eventNumber}@${cause?.streamId}`);
    await at.close();
  });

  test("pages through a stream longer than a page: newest first, older, newer, oldest", async () => {
    const at = await openPage();
    const stream = `product-${story.product.id}`;
    const [head] = await feed(`/streams/${stream}/head/backward/1`);
    const last = Number(/^(\d+)@/.exec(head?.title ?? "")?.[1]);
    expect(last).toBeGreaterThanOrEqual(24);
    const titles = (from: number, to: number): string[] => Array.from({ length: from - to + 1 }, (_, index) => `${from - index}@${stream}`);

    await at.goto(`${story.eventStoreUrl}/web/#/streams/${encodeURIComponent(stream)}`);
    await at.locator("#events a.event").first().waitFor();
    expect(await rowTitles(at)).toEqual(titles(last, last - 19));

    await at.locator("a.pager-next").first().click();
    await poll(() => rowTitles(at)).toEqual(titles(last - 20, Math.max(0, last - 39)));

    await at.locator("a.pager-previous").first().click();
    await poll(() => rowTitles(at)).toEqual(titles(last, last - 19));
    // The newest page has nothing newer to go to.
    expect(await at.locator("a.pager-previous").count()).toBe(0);

    await at.locator("a.pager-last").first().click();
    await poll(() => rowTitles(at)).toEqual(titles(19, 0));
    await at.close();
  });

  test("the search box opens a stream by name; $all filters by event type", async () => {
    const at = await openPage();
    await at.goto(`${story.eventStoreUrl}/web/`);
    const stream = `payment-${story.reservation.id}`;
    await at.locator("#stream-name").fill(stream);
    await at.locator("#open-stream button").click();
    await at.locator("h1 .stream-name", { hasText: stream }).waitFor();
    await poll(() => at.locator("#events td.type").allTextContents()).toContain("PaymentRequested");

    await at.locator("nav a[data-nav=all]").click();
    await at.locator("#all-filter select").selectOption("type");
    await at.locator("#all-filter input").fill("ReservationPlaced");
    await at.locator("#all-filter button").click();
    await poll(() => at.locator("#events td.type").allTextContents()).toEqual(Array(story.reservations).fill("ReservationPlaced"));
    await at.close();
  });

  test("new events appear on an open stream page without a reload", async () => {
    const at = await openPage();
    const stream = `browser-live-${randomUUID()}`;
    const post = (type: string): Promise<Response> =>
      fetch(`${story.eventStoreUrl}/streams/${stream}`, {
        method: "POST",
        headers: { "Content-Type": "application/vnd.eventstore.events+json" },
        body: JSON.stringify([{ eventId: randomUUID(), eventType: type, data: { at: Date.now() } }]),
      });
    expect((await post("First")).status).toBe(201);
    await at.goto(`${story.eventStoreUrl}/web/#/streams/${stream}`);
    await at.locator("#events a.event").first().waitFor();
    await at.evaluate(() => {
      (globalThis as unknown as { stayed: boolean }).stayed = true;
    });
    expect((await post("Second")).status).toBe(201);
    await poll(() => rowTitles(at)).toEqual([`1@${stream}`, `0@${stream}`]);
    expect(await at.evaluate(() => (globalThis as unknown as { stayed?: boolean }).stayed)).toBe(true);
    await at.close();
  });

  test("event data is shown as text: markup in an event does not run", async () => {
    const at = await openPage();
    const stream = `browser-xss-${randomUUID()}`;
    const payload = `<img src=x onerror="window.hacked=1"><script>window.hacked=2</script>`;
    const response = await fetch(`${story.eventStoreUrl}/streams/${stream}`, {
      method: "POST",
      headers: { "Content-Type": "application/vnd.eventstore.events+json" },
      body: JSON.stringify([{ eventId: randomUUID(), eventType: `<b>Type</b>`, data: { payload }, metadata: { $correlationId: payload } }]),
    });
    expect(response.status).toBe(201);
    await at.goto(`${story.eventStoreUrl}/web/#/streams/${stream}/0`);
    await poll(() => at.locator("#event-type").textContent()).toBe("<b>Type</b>");
    const shown = JSON.parse((await at.locator("#event-data").textContent()) ?? "") as { payload?: string };
    expect(shown.payload).toBe(payload);
    expect(await at.locator("main img, main script, #event-type b").count()).toBe(0);
    expect(await at.evaluate(() => (globalThis as unknown as { hacked?: number }).hacked)).toBeUndefined();
    await at.close();
  });

  test("persistent subscriptions: every group with its status; parked messages viewed and replayed", async () => {
    const client = story.scenario.service.eventStore.client;
    const stream = `browser-parked-${randomUUID()}`;
    const group = `browser-group-${randomUUID().slice(0, 8)}`;
    await client.appendToStream(stream, [jsonEvent({ type: "WillPark", data: {} })]);
    await client.createPersistentSubscriptionToStream(
      stream,
      group,
      persistentSubscriptionToStreamSettingsFromDefaults({ startFrom: START }),
    );
    const subscription = client.subscribeToPersistentSubscriptionToStream(stream, group);
    for await (const event of subscription) {
      await subscription.nack(PARK, "parked by the browser test", event);
      break;
    }
    await subscription.unsubscribe();
    // The page shows what the server says when it loads: wait until the server has parked the message.
    await poll(async () => {
      const info = await fetch(`${story.eventStoreUrl}/subscriptions/${stream}/${group}/info`, { headers: { Accept: "application/json" } });
      return ((await info.json()) as { parkedMessageCount: number }).parkedMessageCount;
    }).toBe(1);

    const at = await openPage();
    await at.goto(`${story.eventStoreUrl}/web/#/subscriptions`);
    const row = at.locator(`#subscriptions tr[data-group="${group}"]`);
    await row.waitFor();
    await poll(() => row.locator("td.parked").textContent()).toBe("1");
    await poll(() => at.locator(`#subscriptions tr[data-group="reservation-saga"] td`).nth(2).textContent()).toMatch(/Live|Behind/);

    await row.locator("a", { hasText: "parked messages" }).click();
    await at.locator("#events a.event", { hasText: `0@${stream}` }).waitFor();

    await at.goBack();
    await at.locator(`#subscriptions tr[data-group="${group}"] button.replay`).click();
    await at.locator("#replay-result", { hasText: "being replayed" }).waitFor();
    await poll(() => at.locator(`#subscriptions tr[data-group="${group}"] td.parked`).textContent()).toBe("0");
    await at.close();
  });
});
