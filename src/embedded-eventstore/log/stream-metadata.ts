/** The parts of a stream's `$metadata` document that change what readers see. */
export interface StreamMetadata {
  readonly raw: Record<string, unknown>;
  readonly truncateBefore: number | undefined;
  readonly maxCount: number | undefined;
  readonly maxAgeSeconds: number | undefined;
  /** `$tb` set to long.MaxValue: the stream was soft deleted and not written since. */
  readonly softDeleted: boolean;
}

const SOFT_DELETED_THRESHOLD = Number.MAX_SAFE_INTEGER;

const positiveInteger = (value: unknown): number | undefined =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;

export const parseStreamMetadata = (data: Uint8Array | undefined): StreamMetadata => {
  let raw: Record<string, unknown> = {};
  if (data && data.length > 0) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(data).toString("utf8"));
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) raw = parsed as Record<string, unknown>;
    } catch {
      // EventStoreDB ignores a metadata document it cannot parse; so do we.
    }
  }
  const truncateBefore = positiveInteger(raw["$tb"]);
  return {
    raw,
    truncateBefore,
    maxCount: positiveInteger(raw["$maxCount"]),
    maxAgeSeconds: positiveInteger(raw["$maxAge"]),
    softDeleted: truncateBefore !== undefined && truncateBefore >= SOFT_DELETED_THRESHOLD,
  };
};
