import { randomUUID } from "node:crypto";
import { type ProductCommand, type ProductEvent, type ProductState, isRegistered } from "../domain/index.js";
import type { Repository } from "../core/repository.js";
import { AccessDeniedError, ResourceNotFoundError } from "./errors.js";
import type {
  CommandContext,
  ProductService as ProductServicePort,
  ProductView,
  RegisterProductInput,
  UpdateProductInput,
} from "./ports.js";
import { checkRevision, commandMetadata } from "./command-context.js";
import { productView } from "./views.js";

export type ProductRepository = Repository<ProductCommand, ProductEvent, ProductState>;

/**
 * The service's methods without its dependencies: what a route takes, so a stand-in fits while
 * go-to-definition still lands on the implementation below.
 */
export type ProductOperations = Pick<ProductService, keyof ProductService>;

export class ProductService implements ProductServicePort {
  constructor(
    private readonly products: ProductRepository,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async register(context: CommandContext, input: RegisterProductInput): Promise<ProductView> {
    if (context.actor.role !== "seller" && context.actor.role !== "admin") {
      throw new AccessDeniedError("only sellers and admins register products");
    }
    const productId = randomUUID();
    const handled = await this.products.handle(
      productId,
      () => ({
        type: "RegisterProduct",
        data: { productId, sellerId: context.actor.id, ...input, now: this.clock().toISOString() },
      }),
      commandMetadata(context, productId),
      // A fresh random id: no stream to read first.
      { expectNew: true },
    );
    if (!isRegistered(handled.state)) throw new Error(`product ${productId} was not registered`);
    return productView(handled.state, handled.revision);
  }

  async get(productId: string): Promise<ProductView | undefined> {
    const { state, revision } = await this.products.load(productId);
    return isRegistered(state) ? productView(state, revision) : undefined;
  }

  update(context: CommandContext, productId: string, input: UpdateProductInput): Promise<ProductView> {
    return this.changeOwned(context, productId, (now) => ({ type: "UpdateProduct", data: { ...input, now } }));
  }

  withdraw(context: CommandContext, productId: string): Promise<ProductView> {
    return this.changeOwned(context, productId, (now) => ({ type: "WithdrawProduct", data: { now } }));
  }

  /** Loads, checks that the actor owns the product (or is an admin) and the If-Match revision, then decides. */
  private async changeOwned(context: CommandContext, productId: string, command: (now: string) => ProductCommand): Promise<ProductView> {
    const handled = await this.products.handle(
      productId,
      (state, revision) => {
        if (!isRegistered(state)) throw new ResourceNotFoundError("product", productId);
        if (context.actor.role !== "admin" && state.sellerId !== context.actor.id) {
          throw new AccessDeniedError("only the product's seller or an admin may change it");
        }
        checkRevision(context, revision);
        return command(this.clock().toISOString());
      },
      // Correlated by the product: a client-chosen request id must not choose where events are grouped.
      commandMetadata(context, productId),
    );
    if (!isRegistered(handled.state)) throw new ResourceNotFoundError("product", productId);
    return productView(handled.state, handled.revision);
  }
}
