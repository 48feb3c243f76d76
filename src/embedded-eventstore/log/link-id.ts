import { createHash } from "node:crypto";

/**
 * The event id of a projection link. Links are not stored as events, so their ids are derived from
 * their position: the same on every read and after restarts, which persistent subscriptions need
 * to acknowledge them.
 */
export const linkIdOf = (position: number): string => {
  const hex = createHash("md5").update(`$projection-link:${position}`).digest("hex");
  // Shaped as a name-based (version 3, RFC 4122 variant) UUID.
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-3${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};
