/** What every benchmark part shares for its figures: nearest-rank percentiles and table cells. */

/** The nearest-rank `fraction` (0..1) percentile of an ascending, non-empty sample. */
export function nearestRank(sorted: ArrayLike<number>, fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!;
}

/** A number for a table cell: `–` when missing or not a number. */
export const fmt = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
