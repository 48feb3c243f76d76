// The rule is pure and shared with the saga's process manager, so it lives in the domain; the hold
// watchdog keeps importing it from here.
export {
  ENDED,
  SETTLED,
  allocationFollowUp,
  followUpCommand,
  mayNeedFollowUp,
  type AllocationFollowUp,
} from "../domain/processes/index.js";
