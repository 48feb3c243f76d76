/** Stream names this read side knows: `<category>-<uuid>`. Anything else (e.g. `paymenttoken-…`) is not ours. */
const STREAM = /^(product|reservation|payment|notification)-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;

export type StreamCategory = "product" | "reservation" | "payment" | "notification";

export const parseStreamId = (streamId: string): { readonly category: StreamCategory; readonly id: string } | undefined => {
  const match = STREAM.exec(streamId);
  if (!match) return undefined;
  return { category: match[1] as StreamCategory, id: match[2] ?? "" };
};

/** Index scores are instants in ms. */
export const millis = (iso: string): number => {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : 0;
};
