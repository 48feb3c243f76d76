import { InvalidCommandError } from "./errors.js";

export function requireInteger(field: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidCommandError(field, `must be an integer between ${min} and ${max}`);
  }
}

export function requireText(field: string, value: string, maxLength: number): void {
  if (value.trim().length === 0 || value.length > maxLength) {
    throw new InvalidCommandError(field, `must be 1..${maxLength} characters`);
  }
}
