/**
 * One customer must not be able to block everybody's writes (the abuse found by the adversarial
 * test): a request whose body trickles in holds a connection but never a command slot, its body
 * must arrive within HTTP_BODY_TIMEOUT_MS (408), and one user may run only ADMISSION_MAX_PER_USER
 * commands at once (429) while others still get through.
 */
import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type TestServer, PROBLEM_BASE, problemOf, startTestServer } from "./support.js";

/** Sends the headers of a POST with a 1000-byte body, then only its first byte; resolves with what the server answers. */
const trickle = (server: TestServer, token: string): { socket: Socket; answer: Promise<string> } => {
  const { hostname, port } = new URL(server.base);
  const socket = connect(Number(port), hostname);
  socket.write(
    `POST /reservations HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n` +
      "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
  );
  const answer = new Promise<string>((resolve) => {
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8");
    });
    socket.on("close", () => resolve(received));
    socket.on("error", () => resolve(received));
  });
  return { socket, answer };
};

/** A promise and the function that settles it, to hold a command in the service until the test lets go. */
const gate = (): { opened: Promise<void>; open: () => void } => {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
};

describe("slow and greedy clients", () => {
  let server: TestServer | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.close();
    server = undefined;
  });

  it("requests whose bodies trickle in take no command slot: another user's write is served at once", async () => {
    server = await startTestServer({ ADMISSION_MAX_IN_FLIGHT: "2", ADMISSION_MAX_QUEUED: "0", HTTP_BODY_TIMEOUT_MS: "60000" });
    const attackers = await Promise.all(Array.from({ length: 6 }, (_, i) => server!.token("customer", `slow-${i}`)));
    for (const token of attackers) sockets.push(trickle(server, token).socket);
    // Give the server time to read the headers of every slow request (they are routed, then wait for the body).
    await new Promise((resolve) => setTimeout(resolve, 300));

    const placed = await server.request("/reservations", {
      method: "POST",
      token: await server.token("customer", "patient-customer"),
      json: { productId: randomUUID(), quantity: 1 },
    });
    expect(placed.status).toBe(201);
  });

  it("a body that does not arrive in time gets 408 and the connection is closed", async () => {
    server = await startTestServer({ HTTP_BODY_TIMEOUT_MS: "300" });
    const { socket, answer } = trickle(server, await server.token("customer"));
    sockets.push(socket);
    const text = await answer; // resolves on close: the server closed the connection
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(text).toContain("application/problem+json");
    expect(text).toContain(`${PROBLEM_BASE}request-timeout`);
    expect(server.reservations.calls.filter((call) => call.method === "place")).toHaveLength(0);
  });

  it("one user may run ADMISSION_MAX_PER_USER commands at once: the next gets 429, other users are still served", async () => {
    server = await startTestServer({ ADMISSION_MAX_PER_USER: "2", ADMISSION_MAX_IN_FLIGHT: "4", ADMISSION_MAX_QUEUED: "0" });
    const held = gate();
    const place = server.reservations.place.bind(server.reservations);
    let inside = 0;
    server.reservations.place = async (context, input, key) => {
      if (context.actor.id === "greedy") {
        inside += 1;
        await held.opened;
      }
      return place(context, input, key);
    };
    const greedy = await server.token("customer", "greedy");
    const body = { productId: randomUUID(), quantity: 1 };
    const running = [0, 1].map(() => server!.request("/reservations", { method: "POST", token: greedy, json: body }));
    // Wait until both are inside the service, holding their slots.
    for (let i = 0; i < 250 && inside < 2; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(inside).toBe(2);

    const third = await server.request("/reservations", { method: "POST", token: greedy, json: body });
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("1");
    expect((await problemOf(third)).type).toBe(`${PROBLEM_BASE}too-many-requests`);

    const other = await server.request("/reservations", {
      method: "POST",
      token: await server.token("customer", "someone-else"),
      json: body,
    });
    expect(other.status).toBe(201);

    held.open();
    expect((await Promise.all(running)).map((response) => response.status)).toEqual([201, 201]);
    // Slots are given back: the same user can write again.
    expect((await server.request("/reservations", { method: "POST", token: greedy, json: body })).status).toBe(201);
  });
});
