/** Values sorted ascending (numerically), as a new array. */
export function sortedCopy(values: Iterable<number>): number[] {
  return Array.from(Float64Array.from(values).sort());
}

/** Percentile `p` (0..100) of ascending `sorted` values by nearest rank; NaN for no values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number; // 0 <= index < length
}
