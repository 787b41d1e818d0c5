// The arithmetic of the stress figures: rounding, sums, quantiles and fair shares.

export const MB = 2 ** 20;

export const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

export function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** The smallest and largest of `counts` as a fraction of their mean. */
export function shares(counts: number[]): { min: number; max: number } {
  const mean = sum(counts) / Math.max(1, counts.length);
  if (mean === 0) return { min: 0, max: 0 };
  return { min: round(Math.min(...counts) / mean, 3), max: round(Math.max(...counts) / mean, 3) };
}
