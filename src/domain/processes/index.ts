export * from "./allocation-follow-up.js";
export * from "./payment-request.js";
export * from "./reservation-saga.js";
export * from "./reservation-statuses.js";
