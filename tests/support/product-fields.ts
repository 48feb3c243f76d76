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
