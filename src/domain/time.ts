import { InvalidCommandError } from "./errors.js";

/** Parses an ISO time carried by a command; the domain never reads the clock itself. */
export function instant(field: string, iso: string): number {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new InvalidCommandError(field, "must be an ISO 8601 time");
  return ms;
}

export function addSeconds(field: string, iso: string, seconds: number): string {
  return new Date(instant(field, iso) + seconds * 1000).toISOString();
}
