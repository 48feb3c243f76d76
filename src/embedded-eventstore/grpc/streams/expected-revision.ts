import type { CurrentRevision, ExpectedRevision } from "../../log/types.js";
import { wireToNumber } from "../convert.js";

/** The expected-revision oneof, as every Streams request carries it under slightly different names. */
interface ExpectedRevisionOptions {
  hasAny(): boolean;
  hasNoStream(): boolean;
  hasStreamExists(): boolean;
}

export const readExpectedRevision = (options: ExpectedRevisionOptions, revision: () => string | undefined): ExpectedRevision => {
  if (options.hasNoStream()) return { kind: "no_stream" };
  if (options.hasStreamExists()) return { kind: "stream_exists" };
  const exact = revision();
  if (exact !== undefined) return { kind: "revision", revision: wireToNumber(exact) };
  return { kind: "any" };
};

/** How EventStoreDB spells expected and actual versions in error trailers: -1 no stream, -2 any, -4 stream exists. */
export const expectedToTrailer = (expected: ExpectedRevision): string => {
  switch (expected.kind) {
    case "any":
      return "-2";
    case "no_stream":
      return "-1";
    case "stream_exists":
      return "-4";
    case "revision":
      return String(expected.revision);
  }
};

export const currentToTrailer = (current: CurrentRevision): string | undefined => (current === "no_stream" ? undefined : String(current));
