export * from "./decider.js";
export * from "./errors.js";
export * from "./events.js";
export * from "./product/index.js";
export * from "./reservation/index.js";
export * from "./payment/index.js";
export * from "./notifications.js";
