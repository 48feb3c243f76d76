/**
 * `POST /reservations` at full speed against a fresh compiled service: products registered, a
 * warm-up on them, then the measured run; for one hot product, a check that what the product
 * holds and has committed matches the 201s and never exceeds its capacity.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { signToken } from "../../src/http/auth.js";
import { deleteKeysUnder, SHARED_REDIS_URL, uniqueKeyRoot } from "../../tests/scenarios/harness.js";
import { runLoad, type LoadResult } from "./load.js";
import { startCompiledService, waitUntilIdle } from "./processes.js";

export type Role = "api" | "all";
export type Shape = "uncontended" | "hot";

export interface ReservationLoadOptions {
  readonly role: Role;
  readonly shape: Shape;
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
  readonly logLevel: string;
  /** Uncontended: how many products the load is spread over. */
  readonly products: number;
  readonly progress: (message: string) => void;
  /** Extra Node flags for the service (`--cpu-prof`, …). */
  readonly nodeArgs?: readonly string[];
}

export interface InventoryCheck {
  readonly capacity: number;
  readonly heldPlusCommitted: number;
  /** 201s for the product, warm-up included. */
  readonly accepted: number;
  /** Units beyond capacity: must be 0. */
  readonly oversold: number;
}

export interface ReservationLoadResult extends LoadResult {
  /** CPU used by the service process during the measured run, in % of one core. */
  readonly serviceCpuPercent: number;
  /** Hot product only; a string says why the product could not be read. */
  readonly inventory?: InventoryCheck | string;
}

interface ProductFigures {
  readonly capacity: number;
  readonly held: number;
  readonly committed: number;
}

/** The product as the API reports it; a few tries, since a service just out of overload may still shed or be half-open. */
const readProduct = async (url: string, token: string): Promise<ProductFigures | string> => {
  let last = "";
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) }).catch(
      (error: unknown) => String(error),
    );
    if (typeof response !== "string" && response.status === 200) return (await response.json()) as ProductFigures;
    last = typeof response === "string" ? response : `${response.status} ${(await response.text()).slice(0, 200)}`;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return `GET /products/{id} failed: ${last}`;
};

const CUSTOMERS = 50;
const CAPACITY = 1_000_000; // the largest the API accepts

/** A strong secret per run: the service runs with NODE_ENV=production, which refuses short ones. */
export const benchSecret = (): string => `bench-${randomUUID()}-${randomUUID()}`;

export const measureReservations = async (options: ReservationLoadOptions): Promise<ReservationLoadResult> => {
  const secret = benchSecret();
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-reservations-"));
  const keyRoot = uniqueKeyRoot("bench");
  const service = await startCompiledService({
    env: {
      NODE_ENV: "production",
      ROLE: options.role,
      LOG_LEVEL: options.logLevel,
      AUTH_SECRET: secret,
      DATA_DIR: dataDir,
      REDIS_URL: SHARED_REDIS_URL,
      READ_MODEL_KEY_ROOT: keyRoot,
      // A few simulated customers place thousands: the hoarding cap would refuse them.
      MAX_UNPAID_HOLDS_PER_CUSTOMER: "0",
    },
    waitFor: options.role === "all" ? "ready" : "live",
    label: `ROLE=${options.role}`,
    ...(options.nodeArgs === undefined ? {} : { nodeArgs: options.nodeArgs }),
  });
  try {
    const seller = await signToken(secret, { sub: "bench-seller", role: "seller", ttlSeconds: 3600 });
    const customers = await Promise.all(
      Array.from({ length: CUSTOMERS }, (_, i) => signToken(secret, { sub: `bench-customer-${i}`, role: "customer", ttlSeconds: 3600 })),
    );
    const register = async (name: string): Promise<string> => {
      const response = await fetch(`${service.url}/products`, {
        method: "POST",
        headers: { authorization: `Bearer ${seller}`, "content-type": "application/json" },
        body: JSON.stringify({ name, capacity: CAPACITY, unitPrice: 1000 }),
      });
      const body = (await response.json()) as { id?: string };
      if (response.status !== 201 || body.id === undefined)
        throw new Error(`registering a product answered ${response.status}: ${JSON.stringify(body)}`);
      return body.id;
    };
    const productIds: string[] = [];
    for (let i = 0; i < (options.shape === "hot" ? 1 : options.products); i += 1) productIds.push(await register(`bench product ${i}`));
    const next = (i: number) => ({
      path: "/reservations",
      headers: { authorization: `Bearer ${customers[i % CUSTOMERS] ?? ""}`, "content-type": "application/json" },
      body: JSON.stringify({ productId: productIds[i % productIds.length], quantity: 1 }),
    });
    const load = { url: service.url, connections: options.connections, next };

    options.progress(`  warm-up ${options.warmupS} s`);
    const warmup = await runLoad({ ...load, durationS: options.warmupS });
    options.progress(`  measuring ${options.durationS} s`);
    const cpuBefore = service.cpuSeconds();
    const startedAt = performance.now();
    const measured = await runLoad({ ...load, durationS: options.durationS });
    const serviceCpuPercent = ((service.cpuSeconds() - cpuBefore) / ((performance.now() - startedAt) / 1000)) * 100;

    await waitUntilIdle(service.url);
    if (options.shape !== "hot") return { ...measured, serviceCpuPercent };
    const accepted = (warmup.statuses["201"] ?? 0) + (measured.statuses["201"] ?? 0);
    const product = await readProduct(`${service.url}/products/${productIds[0]}`, seller);
    if (typeof product === "string") return { ...measured, serviceCpuPercent, inventory: product };
    const heldPlusCommitted = product.held + product.committed;
    const inventory: InventoryCheck = {
      capacity: product.capacity,
      heldPlusCommitted,
      accepted,
      oversold: Math.max(0, heldPlusCommitted - product.capacity),
    };
    return { ...measured, serviceCpuPercent, inventory };
  } finally {
    await service.stop();
    await deleteKeysUnder(SHARED_REDIS_URL, keyRoot).catch(() => 0);
    rmSync(dataDir, { recursive: true, force: true });
  }
};
