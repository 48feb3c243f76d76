export { freePort } from "../../src/infrastructure/free-port.js";
