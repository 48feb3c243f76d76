/** The fields of `POST /products` that the suites set (the API's own schema has them all optional). */
export interface ProductFields {
  name: string;
  capacity: number;
  unitPrice: number;
  currency: string;
  kind: "sale" | "rental";
  sellerAcceptance: boolean;
  fulfilmentSteps: string[];
  holdTtlSeconds: number;
}

/** What `POST /products` fills in when the fields are left out (API.md), as a new product shows them. */
export const PRODUCT_DEFAULTS = {
  currency: "KRW",
  kind: "sale",
  sellerAcceptance: false,
  fulfilmentSteps: [],
  holdTtlSeconds: 900,
} as const satisfies Partial<ProductFields>;
