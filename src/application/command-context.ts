import { randomUUID } from "node:crypto";
import type { CommandMetadata } from "../core/repository.js";
import { RevisionMismatchError } from "./errors.js";
import type { CommandContext } from "./ports.js";

/**
 * Metadata for the events one command causes, correlated by the saga's id when there is one. The
 * causation is a fresh command id, never the client's request id: event ids derive from it, and a
 * client reusing a request id must not make a different command look like a retry.
 */
export const commandMetadata = (context: CommandContext, correlationId: string): CommandMetadata => ({
  correlationId,
  causationId: randomUUID(),
  actor: context.actor,
});

/** `If-Match` asks for optimistic concurrency over HTTP: the command applies only to the revision the client saw. */
export const checkRevision = (context: CommandContext, revision: number): void => {
  if (context.expectedRevision !== undefined && context.expectedRevision !== revision) {
    throw new RevisionMismatchError(context.expectedRevision, revision);
  }
};
