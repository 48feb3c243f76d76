import type { ReservationStatus } from "../reservation/index.js";

/**
 * Written as maps over every status rather than lists, so that a status added to the domain's enum
 * does not compile until someone has said which side of each line it falls on.
 */
const ended = {
  placed: false,
  "awaiting-acceptance": false,
  confirmed: false,
  "in-progress": false,
  "in-use": false,
  completed: false,
  cancelled: true,
  expired: true,
  rejected: true,
} as const satisfies Record<ReservationStatus, boolean>;

const settled = {
  placed: false,
  "awaiting-acceptance": true,
  confirmed: true,
  "in-progress": true,
  "in-use": true,
  completed: true,
  cancelled: false,
  expired: false,
  rejected: false,
} as const satisfies Record<ReservationStatus, boolean>;

const statusesWhere = (flags: Record<ReservationStatus, boolean>): ReadonlySet<ReservationStatus> =>
  new Set((Object.keys(flags) as ReservationStatus[]).filter((status) => flags[status]));

/** Statuses in which the reservation no longer wants its units or its money. */
export const ENDED: ReadonlySet<ReservationStatus> = statusesWhere(ended);
/** Statuses in which the units are the customer's: paid and not given back. */
export const SETTLED: ReadonlySet<ReservationStatus> = statusesWhere(settled);
