import type { Decider } from "../domain/decider.js";
import type { EventMetadata } from "./event-metadata.js";

export interface DomainEvent {
  readonly type: string;
  readonly data: unknown;
}

export interface AggregateType<Command, Event extends DomainEvent, State> {
  /** Stream category: streams are named `<category>-<id>`. */
  readonly category: string;
  readonly decider: Decider<Command, Event, State>;
  /** Validates an event read back from the store. */
  parseEvent(type: string, data: unknown): Event;
  /**
   * A copy of a state that evolving the copy leaves the original unchanged. Needed to decide a
   * batch (later commands see earlier ones' events before they are appended); `structuredClone`
   * when absent, which is right for plain data but copies more than a state that shares its
   * unchanged parts would need.
   */
  copyState?(state: State): State;
}

/** An aggregate's state as of a stream revision (-1: the stream does not exist). */
export interface Loaded<State> {
  readonly state: State;
  readonly revision: number;
}

export interface Handled<Event, State> extends Loaded<State> {
  /** The events this call appended; empty when the command changed nothing. */
  readonly events: readonly Event[];
}

export interface CommandMetadata {
  readonly correlationId: string;
  /** What caused the command (a request id or an event id); event ids are derived from it. */
  readonly causationId: string;
  readonly actor: EventMetadata["actor"];
}

export interface HandleOptions {
  /**
   * The caller knows of no such stream: its id was generated just now (a random UUID). When the
   * stream is not cached, the command is decided on the initial state and appended with NO_STREAM
   * without reading first; if the stream exists after all (a retried request), the append fails,
   * and the repository reads the stream and decides again as usual.
   */
  readonly expectNew?: boolean;
}

/**
 * What the application asks of an event-sourced store: load an aggregate, or decide a command on
 * its current state and append the result. The EventStoreDB implementation is infrastructure's
 * `AggregateRepository`; the application names only this port, so it does not depend on the store.
 */
export interface Repository<Command, Event extends DomainEvent, State> {
  /** The stream an aggregate's events are in: `<category>-<id>`. */
  streamOf(id: string): string;
  /**
   * The current state, consistent with every command already acknowledged. With `atLeastRevision`,
   * a state at that revision or later may be answered without reading the store.
   */
  load(id: string, options?: { readonly atLeastRevision?: number }): Promise<Loaded<State>>;
  /**
   * Decides on the current state and appends the result. `decide` may throw a domain error (the
   * refusal reaches the caller unchanged) and may be called more than once.
   */
  handle(
    id: string,
    decide: (state: State, revision: number) => Command,
    metadata: CommandMetadata,
    options?: HandleOptions,
  ): Promise<Handled<Event, State>>;
}
