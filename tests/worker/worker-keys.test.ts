/**
 * The keys that decide what the workers may handle side by side: the saga's and the notifier's
 * events of one reservation and of its payment share one key (so they stay in order), other
 * reservations get other keys.
 */
import { describe, expect, it } from "vitest";
import type { ConsumedEvent } from "../../src/infrastructure/eventstore/consumer-group.js";
import { createNotifierConsumers } from "../../src/worker/notifier.js";
import { sagaKey } from "../../src/worker/workers.js";
import { testLogger } from "./support.js";

const event = (streamId: string, correlationId?: string): ConsumedEvent => ({
  eventId: "00000000-0000-4000-8000-000000000000",
  streamId,
  revision: 0,
  position: 0n,
  type: "Anything",
  data: {},
  metadata:
    correlationId === undefined
      ? undefined
      : { $correlationId: correlationId, $causationId: "c", actor: { id: "a", role: "system" }, schemaVersion: 1 },
  created: new Date(),
  retryCount: 0,
});

const R1 = "11111111-1111-4111-8111-111111111111";
const R2 = "22222222-2222-4222-8222-222222222222";

describe("worker keys", () => {
  it("the saga keys a reservation's and its payment's events alike, by correlation id or else by stream", () => {
    expect(sagaKey(event(`reservation-${R1}`, R1))).toBe(sagaKey(event(`payment-${R1}`, R1)));
    expect(sagaKey(event(`reservation-${R1}`))).toBe(sagaKey(event(`payment-${R1}`)));
    expect(sagaKey(event(`reservation-${R1}`))).toBe(sagaKey(event(`payment-${R1}`, R1)));
    expect(sagaKey(event(`reservation-${R1}`, R1))).not.toBe(sagaKey(event(`reservation-${R2}`, R2)));
  });

  it("the notifier records per reservation and delivers per notification stream", () => {
    // No client call happens while building consumers or computing keys.
    const [recorder, delivery] = createNotifierConsumers({
      client: undefined as never,
      repositories: { reservations: undefined as never, payments: undefined as never },
      logger: testLogger(),
      channels: [{ name: "log", deliver: async () => ({ attempts: 1 }) }],
    });
    expect(recorder?.ordering?.keyOf(event(`reservation-${R1}`, R1))).toBe(recorder?.ordering?.keyOf(event(`payment-${R1}`)));
    expect(recorder?.ordering?.keyOf(event(`reservation-${R1}`))).not.toBe(recorder?.ordering?.keyOf(event(`reservation-${R2}`)));
    expect(delivery?.ordering?.keyOf(event(`notification-${R1}`))).not.toBe(delivery?.ordering?.keyOf(event(`notification-${R2}`)));
    expect(recorder?.ordering?.concurrency).toBeGreaterThan(1);
  });
});
