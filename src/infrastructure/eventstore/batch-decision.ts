import type { Decider } from "../../domain/decider.js";

/** What one command of a batch came to, decided on the state its predecessors left. */
export type Decision<Event, State> =
  /** Its events land right after its predecessors'; `revision` is the stream's revision after them. */
  | { readonly kind: "changed"; readonly events: readonly Event[]; readonly state: State; readonly revision: number }
  /** Nothing to append (an idempotent repeat): the state and revision it was decided on. */
  | { readonly kind: "unchanged"; readonly state: State; readonly revision: number }
  /** Its `decide` threw (a domain refusal, usually): it contributes nothing. */
  | { readonly kind: "refused"; readonly error: Error };

export type CommandOf<Command, State> = (state: State, revision: number) => Command;

export interface BatchLimits<Event> {
  /** Bytes an event adds to the append, as the server counts them. */
  weigh(event: Event, commandIndex: number): number;
  /** Commands whose events would take the append past this are left for a later append. */
  readonly maxBytes: number;
}

export interface BatchDecision<Event, State> {
  /** How many commands were decided, from the first; the ones after were left out (size limit). */
  readonly taken: number;
  /** Every event of the batch, in order (one append), with the command each belongs to. */
  readonly changes: readonly { readonly commandIndex: number; readonly events: readonly Event[] }[];
  /**
   * To call once the append succeeded (or when nothing is to be appended): completes the last
   * changed command's decision (its state is only evolved now, in place when nothing was copied)
   * and returns one decision per command taken and the state after the whole batch.
   */
  settle(): { readonly decisions: readonly Decision<Event, State>[]; readonly state: State; readonly revision: number };
}

/**
 * Decides commands in order, each on the state evolved by the events of those before it, without
 * changing `base`: states may be evolved in place (a product's allocations map), so the base is
 * copied before anything not yet appended is applied to it. A single command never needs the copy,
 * its events are applied only after the append. The base is still needed intact when the append
 * fails with a wrong expected version: the repository catches it up and decides again.
 */
export const decideBatch = <Command, Event, State>(
  decider: Decider<Command, Event, State>,
  base: { readonly state: State; readonly revision: number },
  commands: readonly CommandOf<Command, State>[],
  copy: (state: State) => State,
  limits: BatchLimits<Event>,
): BatchDecision<Event, State> => {
  const decisions: Decision<Event, State>[] = [];
  const changes: { commandIndex: number; events: readonly Event[] }[] = [];
  let state = base.state;
  let revision = base.revision;
  let owned = false;
  let bytes = 0;
  /** The last changed command, whose events are not applied yet. */
  let pending: { readonly index: number; readonly events: readonly Event[] } | undefined;

  const apply = (inPlace: boolean): void => {
    if (!pending) return;
    if (!owned && !inPlace) {
      state = copy(state);
      owned = true;
    }
    for (const event of pending.events) state = decider.evolve(state, event);
    revision += pending.events.length;
    decisions[pending.index] = { kind: "changed", events: pending.events, state, revision };
    pending = undefined;
  };

  for (const [index, command] of commands.entries()) {
    apply(false);
    let decided: Event[];
    try {
      decided = decider.decide(command(state, revision), state);
    } catch (error) {
      decisions.push({ kind: "refused", error: error instanceof Error ? error : new Error(String(error)) });
      continue;
    }
    if (decided.length === 0) {
      decisions.push({ kind: "unchanged", state, revision });
      continue;
    }
    const weight = decided.reduce((sum, event) => sum + limits.weigh(event, index), 0);
    // The first command goes in whatever its size: alone it is what the server would have refused anyway.
    if (changes.length > 0 && bytes + weight > limits.maxBytes) break;
    bytes += weight;
    changes.push({ commandIndex: index, events: decided });
    pending = { index, events: decided };
    // A placeholder until its events are applied; settle() or the next command replaces it.
    decisions.push({ kind: "unchanged", state, revision });
  }

  return {
    taken: decisions.length,
    changes,
    settle: () => {
      apply(true);
      return { decisions, state, revision };
    },
  };
};
