/**
 * Age-estimation metrics over predicted and true ages in years. Pure functions; tested against
 * hand-computed cases in test/age-metrics.test.ts. Band hits use the same rounding as the
 * analyzer's reported bands (postprocess.ts `bandIndex`).
 */
import { FAIRFACE_AGE_BANDS, PAPER000_AGE_BANDS } from '../core/age-bands.js';
import type { ValueBands } from '../core/models/manifest.js';
import { bandIndex } from '../core/postprocess.js';
import { meanCI, type MeanCI } from './bootstrap.js';
import { confusionMatrix, rowNormalise } from './metrics.js';

/** Thresholds of the cumulative score, in years. */
export const CS_THRESHOLDS_YEARS: readonly number[] = Object.freeze([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);

/** Bands the age report scores as classes. */
export const AGE_REPORT_BANDS: readonly ValueBands[] = Object.freeze([PAPER000_AGE_BANDS, FAIRFACE_AGE_BANDS]);

const mean = (v: readonly number[]) => (v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length);

/** predicted − true, per sample (positive: the model says older). */
export function signedErrors(truth: readonly number[], predicted: readonly number[]): number[] {
  return truth.map((t, i) => predicted[i]! - t);
}

export function meanAbsoluteError(truth: readonly number[], predicted: readonly number[]): number {
  return mean(signedErrors(truth, predicted).map(Math.abs));
}

export function rootMeanSquaredError(truth: readonly number[], predicted: readonly number[]): number {
  return Math.sqrt(mean(signedErrors(truth, predicted).map((e) => e * e)));
}

/** Mean of predicted − true: the bias (positive: ages are overestimated on average). */
export function meanSignedError(truth: readonly number[], predicted: readonly number[]): number {
  return mean(signedErrors(truth, predicted));
}

/**
 * Cumulative score CS(k): the share of samples with |error| ≤ k years (Geng et al. 2007). The
 * test is on the raw error, so with whole-year truths a prediction of 30.4 for 25 misses CS(5);
 * 1e-9 absorbs float rounding in the expectation.
 */
export function cumulativeScore(truth: readonly number[], predicted: readonly number[], kYears: number): number {
  return mean(signedErrors(truth, predicted).map((e) => (Math.abs(e) <= kYears + 1e-9 ? 1 : 0)));
}

export interface BandScore {
  readonly name: string;
  readonly labels: readonly string[];
  /** Share of samples whose predicted band is the true one. */
  readonly exact: number;
  /** Share within one band of the true one (adjacent bands count). */
  readonly withinOne: number;
  /**
   * `exact` and `withinOne` averaged over the bands that hold a true age, each band weighted
   * equally: what a test set with the same number of faces in every band (FairFace-style
   * balanced sets) would measure, whatever this set's age mix.
   */
  readonly balancedExact: number;
  readonly balancedWithinOne: number;
  /** counts[true band][predicted band]. */
  readonly confusion: readonly (readonly number[])[];
  readonly confusionNormalised: readonly (readonly number[])[];
}

/** Ages scored as band classes: exact and ±1-band accuracy, and the band confusion matrix. */
export function bandScore(truth: readonly number[], predicted: readonly number[], bands: ValueBands): BandScore {
  const t = truth.map((v) => bandIndex(v, bands.starts));
  const p = predicted.map((v) => bandIndex(v, bands.starts));
  const confusion = confusionMatrix(t, p, bands.labels.length);
  const held = confusion.map((row, i) => ({ row, i, n: row.reduce((a, b) => a + b, 0) })).filter((b) => b.n > 0);
  const bandMean = (hit: (row: readonly number[], i: number) => number) => mean(held.map(({ row, i, n }) => hit(row, i) / n));
  return {
    name: bands.name,
    labels: bands.labels,
    exact: mean(t.map((b, i) => (b === p[i] ? 1 : 0))),
    withinOne: mean(t.map((b, i) => (Math.abs(b - p[i]!) <= 1 ? 1 : 0))),
    balancedExact: bandMean((row, i) => row[i]!),
    balancedWithinOne: bandMean((row, i) => (row[i - 1] ?? 0) + row[i]! + (row[i + 1] ?? 0)),
    confusion,
    confusionNormalised: rowNormalise(confusion),
  };
}

export interface AgeMetrics {
  readonly evaluated: number;
  readonly maeYears: number;
  /** Bootstrap CI of the MAE (resampling samples' absolute errors). */
  readonly maeCI: MeanCI;
  readonly rmseYears: number;
  /** Mean of predicted − true. */
  readonly meanSignedErrorYears: number;
  readonly cumulativeScore: readonly { readonly kYears: number; readonly share: number }[];
  /** By band table: paper 000's seventeen 5-year bands and FairFace's 9 groups. */
  readonly bands: Readonly<Record<string, BandScore>>;
  /**
   * Paper 000's age figures (53.1% / 72.1% on its data): "±2.5 year" is an exact hit on its
   * 5-year bands, "±5 year" a hit within one band (its Figure 11: the diagonal, and the diagonal
   * with its neighbours).
   */
  readonly paper000: { readonly within2_5Years: number; readonly within5Years: number };
}

/** Every age metric of a report; values are NaN when there are no samples. */
export function ageMetrics(truth: readonly number[], predicted: readonly number[]): AgeMetrics {
  const bands = Object.fromEntries(AGE_REPORT_BANDS.map((b) => [b.name, bandScore(truth, predicted, b)]));
  const paper = bands[PAPER000_AGE_BANDS.name]!;
  return {
    evaluated: truth.length,
    maeYears: meanAbsoluteError(truth, predicted),
    maeCI: meanCI(signedErrors(truth, predicted).map(Math.abs)),
    rmseYears: rootMeanSquaredError(truth, predicted),
    meanSignedErrorYears: meanSignedError(truth, predicted),
    cumulativeScore: CS_THRESHOLDS_YEARS.map((kYears) => ({ kYears, share: cumulativeScore(truth, predicted, kYears) })),
    bands,
    paper000: { within2_5Years: paper.exact, within5Years: paper.withinOne },
  };
}
