import { assert, expect } from "vitest";
import { fold, type Decider } from "../../src/domain/decider.js";
import { DomainError, type DomainErrorCode, type DomainErrorDetails } from "../../src/domain/errors.js";

type Outcome<E> = { ok: true; events: E[] } | { ok: false; error: unknown };

type ErrorClass = abstract new (...args: never[]) => Error;

export interface Options<E> {
  /** Run on every decided event, e.g. the aggregate's schema parser, to prove decide only emits valid events. */
  validate?: (event: E) => void;
}

export interface Then<E> {
  /** The command is accepted and decides exactly these events. */
  then(expected: E[]): void;
  /** The command is refused with this error class (and code / details when given). */
  thenThrows(errorClass: ErrorClass, code?: DomainErrorCode, details?: DomainErrorDetails): void;
  /** The command is accepted and has nothing to do (an idempotent repeat). */
  thenNothing(): void;
}

function describeError(error: unknown): string {
  if (error instanceof DomainError) return `${error.name} (${error.code}): ${error.message}`;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * given(decider, history).when(command).then(events) / .thenThrows(Class, code) / .thenNothing().
 * Besides the outcome it checks that decide is pure: it leaves the state untouched and
 * decides the same thing twice.
 */
export function given<C, E, S>(decider: Decider<C, E, S>, history: readonly E[] = [], options: Options<E> = {}) {
  return {
    when(command: C): Then<E> {
      const run = (): Outcome<E> => {
        const state = fold(decider, history, decider.initialState);
        const before = structuredClone(state);
        let outcome: Outcome<E>;
        try {
          outcome = { ok: true, events: decider.decide(command, state) };
        } catch (error) {
          outcome = { ok: false, error };
        }
        expect(state, "decide must not modify the state").toEqual(before);
        return outcome;
      };
      const first = run();
      const second = run();
      if (first.ok !== second.ok || (first.ok && second.ok && !isEqual(first.events, second.events))) {
        assert.fail("decide is not deterministic: the same command on the same state decided differently");
      }

      const events = (): E[] => {
        if (!first.ok) assert.fail(`expected the command to be accepted, but it was refused: ${describeError(first.error)}`);
        first.events.forEach((event) => options.validate?.(event));
        return first.events;
      };

      return {
        then(expected) {
          expect(events()).toStrictEqual(expected);
        },
        thenNothing() {
          const decided = events();
          if (decided.length > 0) assert.fail(`expected no events, but decided ${JSON.stringify(decided)}`);
        },
        thenThrows(errorClass, code, details) {
          if (first.ok) {
            assert.fail(`expected ${errorClass.name}, but the command was accepted: ${JSON.stringify(first.events)}`);
          }
          expect(first.error).toBeInstanceOf(errorClass);
          if (code !== undefined) expect((first.error as DomainError).code).toBe(code);
          if (details !== undefined) expect((first.error as DomainError).details).toMatchObject(details);
        },
      };
    },
  };
}

/** Deep equality as `toStrictEqual` sees it, as a boolean. */
export function isEqual(a: unknown, b: unknown): boolean {
  try {
    expect(a).toStrictEqual(b);
    return true;
  } catch {
    return false;
  }
}
