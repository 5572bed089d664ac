/**
 * Percentile-bootstrap confidence intervals (Efron & Tibshirani, "An Introduction to the
 * Bootstrap", 1993) with a seeded PRNG, so a report's intervals are reproducible.
 */

export interface Interval {
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
}

export interface BootstrapOptions {
  /** @default 1000 */
  readonly resamples?: number;
  /** @default 1 */
  readonly seed?: number;
  /** Coverage of the interval. @default 0.95 */
  readonly level?: number;
}

export const DEFAULT_BOOTSTRAP = Object.freeze({ resamples: 1000, seed: 1, level: 0.95 });

/** mulberry32: a small, fast 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Quantile of sorted values by linear interpolation (Hyndman & Fan type 7, numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

const mean = (v: readonly number[]) => (v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length);

function resampleMean(v: readonly number[], rand: () => number): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[Math.floor(rand() * v.length)]!;
  return s / v.length;
}

function percentile(stats: number[], level: number, estimate: number): Interval {
  stats.sort((a, b) => a - b);
  return { estimate, lower: quantile(stats, (1 - level) / 2), upper: quantile(stats, 1 - (1 - level) / 2) };
}

/** CI of the mean of `values` (of 0/1 correctness: the accuracy). */
export function bootstrapMean(values: readonly number[], options: BootstrapOptions = {}): Interval {
  const { resamples, seed, level } = { ...DEFAULT_BOOTSTRAP, ...options };
  if (values.length === 0) return { estimate: Number.NaN, lower: Number.NaN, upper: Number.NaN };
  const rand = mulberry32(seed);
  return percentile(Array.from({ length: resamples }, () => resampleMean(values, rand)), level, mean(values));
}

/** A bootstrap CI of a mean as reports store it: the bounds and how they were made. */
export interface MeanCI {
  readonly lower: number;
  readonly upper: number;
  readonly level: number;
  readonly method: 'percentile bootstrap';
  readonly resamples: number;
  readonly seed: number;
}

/** `bootstrapMean` with the default settings, in report form. */
export function meanCI(values: readonly number[]): MeanCI {
  const ci = bootstrapMean(values);
  return { lower: ci.lower, upper: ci.upper, level: DEFAULT_BOOTSTRAP.level, method: 'percentile bootstrap', resamples: DEFAULT_BOOTSTRAP.resamples, seed: DEFAULT_BOOTSTRAP.seed };
}

/**
 * CI of mean(b) − mean(a). Paired (same samples in the same order): each resample draws the same
 * indices from both, which removes the between-sample variance the two share. Unpaired: each side
 * is resampled on its own.
 */
export function bootstrapDifference(a: readonly number[], b: readonly number[], paired: boolean, options: BootstrapOptions = {}): Interval {
  const { resamples, seed, level } = { ...DEFAULT_BOOTSTRAP, ...options };
  if (a.length === 0 || b.length === 0) return { estimate: Number.NaN, lower: Number.NaN, upper: Number.NaN };
  if (paired && a.length !== b.length) throw new RangeError(`paired bootstrap needs equal lengths (${a.length} vs ${b.length})`);
  const rand = mulberry32(seed);
  const stats = Array.from({ length: resamples }, () => {
    if (!paired) return resampleMean(b, rand) - resampleMean(a, rand);
    let s = 0;
    for (let i = 0; i < a.length; i++) {
      const j = Math.floor(rand() * a.length);
      s += b[j]! - a[j]!;
    }
    return s / a.length;
  });
  return percentile(stats, level, mean(b) - mean(a));
}

/** Normal-approximation 95% CI of p2 − p1 for independent proportions (when per-sample results are missing). */
export function normalDifference(p1: number, n1: number, p2: number, n2: number): Interval {
  const z = 1.959963984540054; // standard normal 97.5th percentile
  const se = Math.sqrt((p1 * (1 - p1)) / n1 + (p2 * (1 - p2)) / n2);
  return { estimate: p2 - p1, lower: p2 - p1 - z * se, upper: p2 - p1 + z * se };
}
