/**
 * The fixture of the five reference systems (product, book, kickboard, food delivery, musical):
 * one service for the file (`useScenario`) and every scenario helper bound to it, so that a
 * scenario file states only its given/when/then.
 */
import {
  command,
  createProduct,
  getPayment,
  getProduct,
  getReservation,
  myPage,
  notifications,
  pay,
  reserve,
  tryReserve,
  useScenario,
  waitForMyPage,
  waitForNotifications,
  waitForPayment,
  waitForProduct,
  waitForReservation,
  type RequestOptions,
  type Scenario,
} from "./support.js";

/** Starts the reference system's service for the file; every helper runs against it. */
export function useReferenceSystem(label: string) {
  const scenario = useScenario({ label });
  const bind =
    <A extends unknown[], R>(helper: (s: Scenario, ...args: A) => R) =>
    (...args: A): R =>
      helper(scenario(), ...args);
  return {
    scenario,
    get: <T>(path: string, options?: RequestOptions) => scenario().get<T>(path, options),
    patch: <T>(path: string, options?: RequestOptions) => scenario().patch<T>(path, options),
    delete: <T>(path: string, options?: RequestOptions) => scenario().delete<T>(path, options),
    createProduct: bind(createProduct),
    tryReserve: bind(tryReserve),
    reserve: bind(reserve),
    getProduct: bind(getProduct),
    getReservation: bind(getReservation),
    getPayment: bind(getPayment),
    command: bind(command),
    pay: bind(pay),
    waitForReservation: bind(waitForReservation),
    waitForPayment: bind(waitForPayment),
    waitForProduct: bind(waitForProduct),
    myPage: bind(myPage),
    waitForMyPage: bind(waitForMyPage),
    notifications: bind(notifications),
    waitForNotifications: bind(waitForNotifications),
  };
}

export type ReferenceSystem = ReturnType<typeof useReferenceSystem>;
