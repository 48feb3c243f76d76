/**
 * A decider is the whole write-side model of one aggregate: pure functions over
 * commands, events and state. Loading folds the stream with `evolve` from
 * `initialState`; handling a command is `decide(command, fold(stream))`.
 *
 * `decide` returns the events to append, `[]` when there is nothing to do
 * (an idempotent repeat), and throws a `DomainError` when a rule refuses.
 */
export interface Decider<Command, Event, State> {
  readonly initialState: State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
}

/** Rebuilds state from events (e.g. a stream read from the start). */
export function fold<C, E, S>(decider: Decider<C, E, S>, events: Iterable<E>, from: S = decider.initialState): S {
  let state = from;
  for (const event of events) state = decider.evolve(state, event);
  return state;
}
