import { match } from "ts-pattern";
import type { Decider } from "../decider.js";
import {
  CapacityBelowAllocatedError,
  InsufficientAvailabilityError,
  InvalidCommandError,
  NotFoundError,
  PerCustomerLimitError,
  PriceChangedError,
  ProductWithdrawnError,
  UnitsInUseError,
} from "../errors.js";
import { requireInteger, requireText } from "../guards.js";
import { addSeconds, instant } from "../time.js";
import { PRODUCT_DEFAULTS, type ProductCommand, type ProductCommandOf } from "./commands.js";
import type { ProductEvent } from "./events.js";
import { deriveProductStatus, initialProductState, isRegistered, unitsInUse, type Product, type ProductState } from "./state.js";

const CURRENCY = /^[A-Z]{3}$/;

function registered(state: ProductState): Product {
  if (!isRegistered(state)) throw new NotFoundError("product");
  return state;
}

function open(state: ProductState): Product {
  const product = registered(state);
  if (product.withdrawn) throw new ProductWithdrawnError();
  return product;
}

export function decideProduct(command: ProductCommand, state: ProductState): ProductEvent[] {
  return match(command)
    .returnType<ProductEvent[]>()
    .with({ type: "RegisterProduct" }, (c) => registerProduct(c, state))
    .with({ type: "UpdateProduct" }, (c) => updateProduct(c, state))
    .with({ type: "WithdrawProduct" }, (c) => withdrawProduct(c, state))
    .with({ type: "HoldUnits" }, (c) => holdUnits(c, state))
    .with({ type: "CommitHeldUnits" }, (c) => commitHeldUnits(c, state))
    .with({ type: "ReleaseUnits" }, (c) => releaseUnits(c, state))
    .exhaustive();
}

export function registerProduct({ data }: ProductCommandOf<"RegisterProduct">, state: ProductState): ProductEvent[] {
  // Ids come from the server, so an existing product here is a retried command.
  if (isRegistered(state)) return [];
  requireText("name", data.name, 200);
  requireInteger("capacity", data.capacity, 1, 1_000_000);
  requireInteger("unitPrice", data.unitPrice, 0, 1_000_000_000);
  const currency = data.currency ?? PRODUCT_DEFAULTS.currency;
  if (!CURRENCY.test(currency)) throw new InvalidCommandError("currency", "must be an ISO 4217 code");
  const holdTtlSeconds = data.holdTtlSeconds ?? PRODUCT_DEFAULTS.holdTtlSeconds;
  requireInteger("holdTtlSeconds", holdTtlSeconds, 10, 86_400);
  if (data.perCustomerLimit !== undefined) requireInteger("perCustomerLimit", data.perCustomerLimit, 1, 1_000_000);
  const steps = data.fulfilmentSteps ?? PRODUCT_DEFAULTS.fulfilmentSteps;
  if (steps.length > 10 || new Set(steps).size !== steps.length) {
    throw new InvalidCommandError("fulfilmentSteps", "must be at most 10 unique names");
  }
  steps.forEach((step, i) => requireText(`fulfilmentSteps[${i}]`, step, 40));
  instant("now", data.now);
  return [
    {
      type: "ProductRegistered",
      data: {
        productId: data.productId,
        sellerId: data.sellerId,
        name: data.name,
        capacity: data.capacity,
        unitPrice: data.unitPrice,
        currency,
        kind: data.kind ?? PRODUCT_DEFAULTS.kind,
        sellerAcceptance: data.sellerAcceptance ?? PRODUCT_DEFAULTS.sellerAcceptance,
        fulfilmentSteps: [...steps],
        holdTtlSeconds,
        ...(data.perCustomerLimit === undefined ? {} : { perCustomerLimit: data.perCustomerLimit }),
        registeredAt: data.now,
      },
    },
  ];
}

export function updateProduct({ data }: ProductCommandOf<"UpdateProduct">, state: ProductState): ProductEvent[] {
  const product = open(state);
  const changes: { name?: string; capacity?: number; unitPrice?: number } = {};
  if (data.name !== undefined && data.name !== product.name) {
    requireText("name", data.name, 200);
    changes.name = data.name;
  }
  if (data.capacity !== undefined && data.capacity !== product.capacity) {
    requireInteger("capacity", data.capacity, 1, 1_000_000);
    if (data.capacity < product.held + product.committed) {
      throw new CapacityBelowAllocatedError(data.capacity, product.held, product.committed);
    }
    changes.capacity = data.capacity;
  }
  if (data.unitPrice !== undefined && data.unitPrice !== product.unitPrice) {
    requireInteger("unitPrice", data.unitPrice, 0, 1_000_000_000);
    changes.unitPrice = data.unitPrice;
  }
  if (Object.keys(changes).length === 0) return [];
  return [{ type: "ProductUpdated", data: { ...changes, updatedAt: data.now } }];
}

export function withdrawProduct({ data }: ProductCommandOf<"WithdrawProduct">, state: ProductState): ProductEvent[] {
  const product = registered(state);
  if (product.withdrawn) return [];
  const inUse = unitsInUse(product);
  if (product.held > 0 || inUse > 0) throw new UnitsInUseError(product.held, inUse);
  return [{ type: "ProductWithdrawn", data: { withdrawnAt: data.now } }];
}

export function holdUnits({ data }: ProductCommandOf<"HoldUnits">, state: ProductState): ProductEvent[] {
  const product = registered(state);
  // Checked before withdrawal: a retried hold that succeeded must still report success.
  if (product.allocations.has(data.reservationId)) return [];
  if (product.withdrawn) throw new ProductWithdrawnError();
  requireInteger("quantity", data.quantity, 1);
  if (data.agreedUnitPrice !== undefined && data.agreedUnitPrice !== product.unitPrice) {
    throw new PriceChangedError(product.unitPrice, data.agreedUnitPrice);
  }
  if (data.quantity > product.available) {
    throw new InsufficientAvailabilityError(product.available, data.quantity);
  }
  if (product.perCustomerLimit !== undefined && data.customerId !== undefined) {
    const allocated = product.allocatedByCustomer.get(data.customerId) ?? 0;
    if (allocated + data.quantity > product.perCustomerLimit) {
      throw new PerCustomerLimitError(product.perCustomerLimit, allocated, data.quantity);
    }
  }
  return [
    {
      type: "UnitsHeld",
      data: {
        reservationId: data.reservationId,
        quantity: data.quantity,
        ...(data.customerId === undefined ? {} : { customerId: data.customerId }),
        heldAt: data.now,
        expiresAt: addSeconds("now", data.now, product.holdTtlSeconds),
      },
    },
  ];
}

export function commitHeldUnits({ data }: ProductCommandOf<"CommitHeldUnits">, state: ProductState): ProductEvent[] {
  const allocation = registered(state).allocations.get(data.reservationId);
  if (allocation?.stage !== "held") return [];
  return [
    {
      type: "HeldUnitsCommitted",
      data: { reservationId: data.reservationId, quantity: allocation.quantity, committedAt: data.now },
    },
  ];
}

export function releaseUnits({ data }: ProductCommandOf<"ReleaseUnits">, state: ProductState): ProductEvent[] {
  const allocation = registered(state).allocations.get(data.reservationId);
  if (allocation === undefined || allocation.stage === "released") return [];
  const released = {
    reservationId: data.reservationId,
    quantity: allocation.quantity,
    reason: data.reason,
    releasedAt: data.now,
  };
  return allocation.stage === "held"
    ? [{ type: "HeldUnitsReleased", data: released }]
    : [{ type: "CommittedUnitsReleased", data: released }];
}

/** Applies changes and recomputes the derived `available` and `status` (one object copy per event). */
function withCounts(product: Product, changes: Partial<Product>, at: string): Product {
  const capacity = changes.capacity ?? product.capacity;
  const held = changes.held ?? product.held;
  const committed = changes.committed ?? product.committed;
  const withdrawn = changes.withdrawn ?? product.withdrawn;
  const available = Math.max(0, capacity - held - committed);
  const status = deriveProductStatus({ withdrawn, available, held });
  return { ...product, ...changes, available, status, updatedAt: at };
}

/** A customer's units leave their count when released (once: a released allocation is not counted again). */
function releaseForCustomer(product: Product, reservationId: string, quantity: number): void {
  const allocation = product.allocations.get(reservationId);
  const customerId = allocation?.customerId;
  if (customerId === undefined || allocation?.stage === "released") return;
  const left = (product.allocatedByCustomer.get(customerId) ?? 0) - quantity;
  if (left > 0) product.allocatedByCustomer.set(customerId, left);
  else product.allocatedByCustomer.delete(customerId);
}

export function evolveProduct(state: ProductState, event: ProductEvent): ProductState {
  if (!isRegistered(state)) {
    if (event.type !== "ProductRegistered") return state;
    const d = event.data;
    return withCounts(
      {
        status: "available",
        productId: d.productId,
        sellerId: d.sellerId,
        name: d.name,
        capacity: d.capacity,
        unitPrice: d.unitPrice,
        currency: d.currency,
        kind: d.kind,
        sellerAcceptance: d.sellerAcceptance,
        fulfilmentSteps: d.fulfilmentSteps,
        holdTtlSeconds: d.holdTtlSeconds,
        perCustomerLimit: d.perCustomerLimit,
        withdrawn: false,
        held: 0,
        committed: 0,
        available: d.capacity,
        registeredAt: d.registeredAt,
        updatedAt: d.registeredAt,
        allocations: new Map(),
        allocatedByCustomer: new Map(),
      },
      {},
      d.registeredAt,
    );
  }
  const product = state;
  return match(event)
    .returnType<ProductState>()
    .with({ type: "ProductRegistered" }, () => product)
    .with({ type: "ProductUpdated" }, ({ data }) =>
      withCounts(
        product,
        {
          name: data.name ?? product.name,
          capacity: data.capacity ?? product.capacity,
          unitPrice: data.unitPrice ?? product.unitPrice,
        },
        data.updatedAt,
      ),
    )
    .with({ type: "ProductWithdrawn" }, ({ data }) => withCounts(product, { withdrawn: true }, data.withdrawnAt))
    .with({ type: "UnitsHeld" }, ({ data }) => {
      const customerId = data.customerId;
      product.allocations.set(data.reservationId, {
        quantity: data.quantity,
        stage: "held",
        ...(customerId === undefined ? {} : { customerId }),
      });
      if (customerId !== undefined)
        product.allocatedByCustomer.set(customerId, (product.allocatedByCustomer.get(customerId) ?? 0) + data.quantity);
      return withCounts(product, { held: product.held + data.quantity }, data.heldAt);
    })
    .with({ type: "HeldUnitsCommitted" }, ({ data }) => {
      product.allocations.set(data.reservationId, {
        ...product.allocations.get(data.reservationId),
        quantity: data.quantity,
        stage: "committed",
      });
      return withCounts(product, { held: product.held - data.quantity, committed: product.committed + data.quantity }, data.committedAt);
    })
    .with({ type: "HeldUnitsReleased" }, ({ data }) => {
      releaseForCustomer(product, data.reservationId, data.quantity);
      product.allocations.set(data.reservationId, {
        ...product.allocations.get(data.reservationId),
        quantity: data.quantity,
        stage: "released",
      });
      return withCounts(product, { held: product.held - data.quantity }, data.releasedAt);
    })
    .with({ type: "CommittedUnitsReleased" }, ({ data }) => {
      releaseForCustomer(product, data.reservationId, data.quantity);
      product.allocations.set(data.reservationId, {
        ...product.allocations.get(data.reservationId),
        quantity: data.quantity,
        stage: "released",
      });
      return withCounts(product, { committed: product.committed - data.quantity }, data.releasedAt);
    })
    .exhaustive();
}

export const productDecider: Decider<ProductCommand, ProductEvent, ProductState> = {
  initialState: initialProductState,
  evolve: evolveProduct,
  decide: decideProduct,
};
