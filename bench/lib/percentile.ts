/** The p-th percentile (nearest rank) of ascending `sorted`; NaN when empty. */
export const percentile = (sorted: readonly number[], p: number): number => {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
};

export const ascending = (samples: readonly number[]): number[] => [...samples].sort((a, b) => a - b);
