/**
 * A running service (ROLE=all, embedded event store in memory) holding the events of real
 * reservations, for the stream browser's test and screenshots. No test-runner dependency.
 */
import { startScenario, type ProductResponse, type ReservationResponse, type Scenario, eventually } from "../scenarios/harness.js";

export interface ReservationStory {
  readonly scenario: Scenario;
  /** Where the embedded server answers HTTP (the same port as its gRPC). */
  readonly eventStoreUrl: string;
  readonly product: ProductResponse;
  /** The reservation whose story is followed; paid and confirmed. */
  readonly reservation: ReservationResponse;
  /** How many reservations were placed on the product (each adds events to its stream). */
  readonly reservations: number;
  stop(): Promise<void>;
}

const expectStatus = <T>(response: { status: number; body: T }, status: number, what: string): T => {
  if (response.status !== status) throw new Error(`${what}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
};

/** Registers a product and places `count` paid reservations on it (enough for the product stream to span pages). */
export const startReservationStory = async (count = 12): Promise<ReservationStory> => {
  const scenario = await startScenario({ label: "stream-browser" });
  try {
    const embedded = scenario.service.eventStore.embedded;
    if (!embedded) throw new Error("the stream browser needs the embedded event store");
    const product = expectStatus(
      await scenario.post<ProductResponse>("/products", {
        as: "seller",
        json: { name: 'Concert <b>seat</b> & "friends"', capacity: 100, unitPrice: 5000 },
      }),
      201,
      "register product",
    );
    let first: ReservationResponse | undefined;
    for (let index = 0; index < count; index += 1) {
      const reservation = expectStatus(
        await scenario.post<ReservationResponse>("/reservations", {
          as: "alice",
          json: { productId: product.id, quantity: 1, paymentToken: "tok_ok" },
        }),
        201,
        "reserve",
      );
      first ??= reservation;
    }
    if (!first) throw new Error("no reservation placed");
    const id = first.id;
    const reservation = await eventually(
      async () => {
        const current = expectStatus(
          await scenario.get<ReservationResponse>(`/reservations/${id}`, { as: "alice" }),
          200,
          "read reservation",
        );
        if (current.status !== "confirmed") throw new Error(`reservation is ${current.status}`);
        return current;
      },
      { timeoutMs: 20_000 },
    );
    return {
      scenario,
      eventStoreUrl: `http://127.0.0.1:${embedded.port}`,
      product,
      reservation,
      reservations: count,
      stop: () => scenario.stop(),
    };
  } catch (error) {
    await scenario.stop();
    throw error;
  }
};
