/**
 * Calibration of the top-1 confidence: reliability-diagram bins and expected calibration error
 * (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017; 15 equal-width bins).
 */

export const DEFAULT_CALIBRATION_BINS = 15;

export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  /** Fraction correct in the bin; NaN when the bin is empty. */
  readonly accuracy: number;
  /** Mean confidence in the bin; NaN when the bin is empty. */
  readonly confidence: number;
}

/** Bin i holds confidences in (i/B, (i+1)/B]; a confidence of 0 goes to bin 0. */
export function reliabilityBins(confidence: readonly number[], correct: readonly boolean[], bins = DEFAULT_CALIBRATION_BINS): ReliabilityBin[] {
  const count = new Array<number>(bins).fill(0);
  const hits = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  confidence.forEach((c, i) => {
    const b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
    count[b]!++;
    conf[b]! += c;
    if (correct[i]) hits[b]!++;
  });
  return count.map((n, b) => ({ lower: b / bins, upper: (b + 1) / bins, count: n, accuracy: n === 0 ? Number.NaN : hits[b]! / n, confidence: n === 0 ? Number.NaN : conf[b]! / n }));
}

/** ECE = Σ_b (n_b / N) |accuracy_b − confidence_b| over non-empty bins. */
export function expectedCalibrationError(bins: readonly ReliabilityBin[]): number {
  const n = bins.reduce((a, b) => a + b.count, 0);
  if (n === 0) return 0;
  return bins.reduce((a, b) => (b.count === 0 ? a : a + (b.count / n) * Math.abs(b.accuracy - b.confidence)), 0);
}
