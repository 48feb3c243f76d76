import { describe, expect, test } from "vitest";
import type { Decider } from "../../src/domain/decider.js";
import { DomainError, InvalidCommandError, NotFoundError } from "../../src/domain/errors.js";
import { given } from "./given-when-then.js";

type CounterEvent = { type: "Incremented"; data: { by: number } };
type CounterCommand = { type: "Increment"; data: { by: number } };

/** A tiny decider: refuses negative steps, ignores zero, counts up to 3. */
const counter: Decider<CounterCommand, CounterEvent, { total: number }> = {
  initialState: { total: 0 },
  evolve: (state, event) => ({ total: state.total + event.data.by }),
  decide: (command, state) => {
    if (command.data.by < 0) throw new InvalidCommandError("by", "must not be negative");
    if (state.total + command.data.by > 3) throw new Error("plain error");
    return command.data.by === 0 ? [] : [{ type: "Incremented", data: { by: command.data.by } }];
  },
};

const inc = (by: number): CounterCommand => ({ type: "Increment", data: { by } });
const incremented = (by: number): CounterEvent => ({ type: "Incremented", data: { by } });

describe("given-when-then helper", () => {
  test("then passes when the decided events are the expected ones", () => {
    given(counter, [incremented(1)])
      .when(inc(2))
      .then([incremented(2)]);
  });

  test("then fails when the events differ", () => {
    expect(() =>
      given(counter)
        .when(inc(1))
        .then([incremented(2)]),
    ).toThrow();
    expect(() => given(counter).when(inc(1)).then([])).toThrow();
  });

  test("then fails when the command is refused", () => {
    expect(() => given(counter).when(inc(-1)).then([])).toThrow(/refused/);
  });

  test("thenNothing passes on [] and fails on events or on a refusal", () => {
    given(counter).when(inc(0)).thenNothing();
    expect(() => given(counter).when(inc(1)).thenNothing()).toThrow(/expected no events/);
    expect(() => given(counter).when(inc(-1)).thenNothing()).toThrow(/refused/);
  });

  test("thenThrows checks the error class, code and details", () => {
    given(counter).when(inc(-1)).thenThrows(InvalidCommandError);
    given(counter).when(inc(-1)).thenThrows(DomainError, "invalid-command", { field: "by" });
    expect(() => given(counter).when(inc(1)).thenThrows(InvalidCommandError)).toThrow(/accepted/);
    expect(() => given(counter).when(inc(-1)).thenThrows(NotFoundError)).toThrow();
    expect(() => given(counter).when(inc(-1)).thenThrows(DomainError, "not-found")).toThrow();
    expect(() => given(counter).when(inc(-1)).thenThrows(DomainError, "invalid-command", { field: "x" })).toThrow();
  });

  test("the history is folded before deciding", () => {
    given(counter, [incremented(2)])
      .when(inc(2))
      .thenThrows(Error);
    expect(() =>
      given(counter, [incremented(2)])
        .when(inc(2))
        .thenThrows(DomainError),
    ).toThrow();
  });

  test("validate runs on every decided event", () => {
    const validate = (): void => {
      throw new Error("invalid event");
    };
    expect(() =>
      given(counter, [], { validate })
        .when(inc(1))
        .then([incremented(1)]),
    ).toThrow(/invalid event/);
  });

  test("a decide that modifies the state fails every outcome", () => {
    const mutating: Decider<CounterCommand, CounterEvent, { total: number }> = {
      ...counter,
      evolve: (state, event) => ({ total: state.total + event.data.by }),
      decide: (command, state) => {
        state.total += 1;
        return [incremented(command.data.by)];
      },
    };
    expect(() => given(mutating).when(inc(1))).toThrow(/must not modify/);
  });

  test("a non-deterministic decide is caught", () => {
    let calls = 0;
    const flaky: Decider<CounterCommand, CounterEvent, { total: number }> = {
      ...counter,
      decide: () => [incremented(++calls)],
    };
    expect(() => given(flaky).when(inc(1))).toThrow(/not deterministic/);
  });
});
