/**
 * The contract every aggregate's event schemas keep, so that each aggregate's suite lists only its
 * own samples and its own malformed fields.
 */
import { expect, test } from "vitest";
import { EventSchemaError } from "../../src/domain/events.js";

interface AnyEvent {
  readonly type: string;
  readonly data: unknown;
}

type Parse<E extends AnyEvent> = (type: string, data: unknown) => E;

/** One sample of every event type: together they cover the schemas, and each survives JSON. */
export function testRoundTrips<E extends AnyEvent>(samples: readonly E[], schemas: object, parse: Parse<E>): void {
  test("cover every event type", () => {
    expect(new Set(samples.map((e) => e.type))).toEqual(new Set(Object.keys(schemas)));
  });

  test.each(samples.map((e) => [e.type, e] as const))("%s survives a JSON round trip", (type, event) => {
    expect(parse(type, JSON.parse(JSON.stringify(event.data)))).toEqual(event);
  });
}

/** Each case patches the sample of its type and must be refused. */
export function testRejections<E extends AnyEvent>(
  samples: readonly E[],
  parse: Parse<E>,
  cases: ReadonlyArray<[E["type"], string, Record<string, unknown>]>,
): void {
  const base = (type: E["type"]) => samples.find((e) => e.type === type)!.data as Record<string, unknown>;

  test.each<[E["type"], string, Record<string, unknown>]>([...cases])("%s rejects %s", (type, _, patch) => {
    expect(() => parse(type, { ...base(type), ...patch })).toThrow(EventSchemaError);
  });
}
