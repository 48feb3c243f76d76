/**
 * Takes the README's screenshots of the stream browser: starts the service with the embedded event
 * store in memory, places real reservations, and photographs the main pages with Debian's chromium.
 *
 *   npx tsx scripts/screenshots.ts            # writes docs/images/stream-browser-*.png
 *
 * Needs Redis on 127.0.0.1:6379 (or REDIS_URL) and chromium (CHROMIUM_PATH, default /usr/bin/chromium).
 */
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { startReservationStory } from "../tests/ui/reservation-story.js";

const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const outDir = new URL("../docs/images/", import.meta.url);

const main = async (): Promise<void> => {
  mkdirSync(outDir, { recursive: true });
  const story = await startReservationStory();
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const shot = async (name: string): Promise<void> => {
      await page.screenshot({ path: new URL(`stream-browser-${name}.png`, outDir).pathname, fullPage: false });
      console.log(`docs/images/stream-browser-${name}.png`);
    };
    const web = `${story.eventStoreUrl}/web/`;
    await page.goto(web);
    await page.locator("#recently-changed a.stream").first().waitFor();
    await shot("streams");
    await page.goto(`${web}#/streams/${encodeURIComponent(`reservation-${story.reservation.id}`)}`);
    await page.locator("#events a.event").first().waitFor();
    await shot("stream");
    await page.goto(`${web}#/streams/${encodeURIComponent(`reservation-${story.reservation.id}`)}/0`);
    await page.locator("#event-data").waitFor();
    await page.locator("#causation a, #causation:not(:has-text('looking'))").first().waitFor();
    await shot("event");
    await page.locator("#correlation").click();
    await page.locator("#events a.event").first().waitFor();
    await shot("correlation");
    await page.goto(`${web}#/subscriptions`);
    await page.locator("#subscriptions").waitFor();
    await shot("subscriptions");
  } finally {
    await browser.close();
    await story.stop();
  }
};

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
