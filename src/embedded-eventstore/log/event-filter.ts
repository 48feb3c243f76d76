import { type StoredEvent, isHiddenFromAll } from "./types.js";

/** A server-side `$all` filter: on the stream name or the event type, by prefixes or a regular expression. */
export interface EventFilter {
  readonly on: "stream" | "eventType";
  readonly prefixes: readonly string[];
  readonly regex: RegExp | undefined;
}

export const matchesFilter = (filter: EventFilter | undefined, event: StoredEvent): boolean => {
  if (!filter) return true;
  const subject = filter.on === "stream" ? event.streamId : event.type;
  if (filter.regex) return filter.regex.test(subject);
  return filter.prefixes.some((prefix) => subject.startsWith(prefix));
};

/** Builds a filter, or explains why the expression is unusable. */
export const createFilter = (
  on: EventFilter["on"],
  expression: { readonly regex: string; readonly prefixes: readonly string[] },
): EventFilter | string => {
  if (expression.regex !== "") {
    try {
      return { on, prefixes: [], regex: new RegExp(expression.regex) };
    } catch {
      return `Invalid filter regular expression: ${expression.regex}`;
    }
  }
  return { on, prefixes: [...expression.prefixes], regex: undefined };
};

/** Whether a `$all` reader with this filter sees the event: never the streams EventStoreDB hides from `$all`. */
export const selectsFromAll = (filter: EventFilter | undefined, event: StoredEvent): boolean =>
  !isHiddenFromAll(event.streamId) && matchesFilter(filter, event);
