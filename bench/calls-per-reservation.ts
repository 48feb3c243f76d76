/**
 * How many EventStoreDB calls one reservation costs the whole system (API and workers in one
 * process, `ROLE=all`), by call and stream category, and the events each consumer group handled:
 * the figures behind the write path's and the workers' CPU. Places reservations one at a time, waits for the workers to go quiet, divides.
 *
 *   npm run -s bench:calls -- [--reservations 100] [--token]
 */
import { exitOnHelp } from "../scripts/lib/help.js";
import { parseArgs } from "node:util";
import { EventStoreDBClient } from "@eventstore/db-client";
import { loadConfig } from "../src/config.js";
import { signToken } from "../src/http/auth.js";
import { createLogger } from "../src/logger.js";
import { startService } from "../src/service.js";

exitOnHelp(`
usage: npm run -s bench:calls -- [--reservations 100] [--token]

EventStoreDB calls and consumer-group events per reservation (ROLE=all, in one process).
`);

const { values } = parseArgs({ options: { reservations: { type: "string", default: "100" }, token: { type: "boolean", default: false } } });
const count = Number(values.reservations);

// Counted on the prototype, so that every repository, consumer and reader of the service is seen.
const counts = new Map<string, number>();
const methods = ["readStream", "appendToStream", "readAll"] as const;
const prototype = EventStoreDBClient.prototype as unknown as Record<(typeof methods)[number], (...args: unknown[]) => unknown>;
for (const name of methods) {
  const original = prototype[name];
  prototype[name] = function counted(this: unknown, ...args: unknown[]) {
    const category = typeof args[0] === "string" ? args[0].split("-")[0] : "$all";
    const key = `${name} ${category}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return original.apply(this, args);
  };
}

const secret = `calls-${Date.now()}-0123456789abcdef0123456789`;
const config = loadConfig({
  AUTH_SECRET: secret,
  PORT: "0",
  EMBEDDED_EVENTSTORE_PORT: "0",
  READ_MODEL_KEY_ROOT: `bench-calls-${Date.now()}`,
  // A few simulated customers place thousands: the hoarding cap would refuse them.
  MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
  LOG_LEVEL: "warn",
});
const service = await startService(config, createLogger({ level: "warn" }), { inMemoryEventStore: true });
const call = async (path: string, token: string, body: unknown): Promise<{ id?: string }> => {
  const response = await fetch(`${service.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await response.json()) as { id?: string };
};
try {
  const seller = await signToken(secret, { sub: "bench-seller", role: "seller", ttlSeconds: 3600 });
  const customer = await signToken(secret, { sub: "bench-customer", role: "customer", ttlSeconds: 3600 });
  const product = await call("/products", seller, { name: "Seats", capacity: 1_000_000, unitPrice: 1000 });
  await new Promise((resolve) => setTimeout(resolve, 3000));
  counts.clear();
  for (let i = 0; i < count; i += 1) {
    await call("/reservations", customer, { productId: product.id, quantity: 1, ...(values.token ? { paymentToken: "tok_ok" } : {}) });
  }
  // The workers follow asynchronously; give them time to finish.
  await new Promise((resolve) => setTimeout(resolve, 8000));
  console.log(`| call | per reservation |\n| --- | ---: |`);
  let total = 0;
  for (const [key, value] of [...counts].sort()) {
    total += value;
    console.log(`| ${key} | ${(value / count).toFixed(2)} |`);
  }
  console.log(`| all | ${(total / count).toFixed(2)} |`);
  // What the consumer groups handled for those reservations, from the service's own metrics.
  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  console.log(`\n| consumer group: events handled | per reservation |\n| --- | ---: |`);
  for (const line of metrics.split("\n")) {
    const handled = /^subscription_events_handled_total\{group="([^"]+)",outcome="([^"]+)"\} (\d+)/.exec(line);
    if (handled) console.log(`| ${handled[1]} (${handled[2]}) | ${(Number(handled[3]) / count).toFixed(2)} |`);
  }
} finally {
  await service.stop();
}
