import { z } from "zod";

/** Builds the event union `{ type, data }` from a map of event type -> data schema. */
export type EventsOf<Schemas extends Record<string, z.ZodType>> = {
  [Type in keyof Schemas & string]: { type: Type; data: z.output<Schemas[Type]> };
}[keyof Schemas & string];

/** Raised when an event read back from the store has an unknown type or malformed data. */
export class EventSchemaError extends Error {
  readonly eventType: string;
  readonly issues: readonly z.core.$ZodIssue[];

  constructor(eventType: string, message: string, issues: readonly z.core.$ZodIssue[] = []) {
    super(message);
    this.name = "EventSchemaError";
    this.eventType = eventType;
    this.issues = issues;
  }
}

export interface EventParser<Schemas extends Record<string, z.ZodType>> {
  (type: string, data: unknown): EventsOf<Schemas>;
  readonly eventTypes: ReadonlyArray<keyof Schemas & string>;
  isEventType(this: void, type: string): type is keyof Schemas & string;
}

export function eventParser<Schemas extends Record<string, z.ZodType>>(schemas: Schemas): EventParser<Schemas> {
  const isEventType = (type: string): type is keyof Schemas & string => Object.hasOwn(schemas, type);
  const parse = (type: string, data: unknown): EventsOf<Schemas> => {
    if (!isEventType(type)) throw new EventSchemaError(type, `unknown event type ${String(type)}`);
    const schema = schemas[type] as z.ZodType;
    const result = schema.safeParse(data);
    if (!result.success) {
      throw new EventSchemaError(type, `malformed ${type}: ${z.prettifyError(result.error)}`, result.error.issues);
    }
    return { type, data: result.data } as EventsOf<Schemas>;
  };
  return Object.assign(parse, { eventTypes: Object.keys(schemas), isEventType });
}

// Shared field schemas.

/** Aggregate ids are UUIDs; `guid` accepts any 8-4-4-4-12 hex id, including derived (name-based) ones. */
export const aggregateId = z.guid();
/** User ids are JWT subjects, not necessarily UUIDs. */
export const userId = z.string().min(1).max(200);
export const isoTime = z.iso.datetime({ offset: true });
export const currency = z.string().regex(/^[A-Z]{3}$/, "an ISO 4217 code");
export const minorUnits = z.number().int().nonnegative();
export const positiveCount = z.number().int().positive();
export const productKind = z.enum(["sale", "rental"]);
export const stepName = z.string().min(1).max(40);
export const fulfilmentSteps = z
  .array(stepName)
  .max(10)
  .refine((steps) => new Set(steps).size === steps.length, "steps must be unique");

export type ProductKind = z.output<typeof productKind>;
export const actorRole = z.enum(["customer", "seller", "admin", "system"]);
export type ActorRole = z.output<typeof actorRole>;
/** The roles a signed-in user can have; `system` acts only from inside the service. */
export const userRole = actorRole.exclude(["system"]);
export type UserRole = z.output<typeof userRole>;
export const actor = z.object({ id: userId, role: actorRole });
export type Actor = z.output<typeof actor>;
