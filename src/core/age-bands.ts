/**
 * Age bands in whole years, one table each, as `ValueBands` (band i holds ages a with
 * starts[i] ≤ round(a) < starts[i + 1]; the last band is open). The two model bands match
 * training/outputs.py `BANDS`, which writes them into age manifests.
 */
import type { ValueBands } from './models/manifest.js';
import { bandIndex } from './postprocess.js';

/**
 * Paper 000 §4.2.2: "5 year age intervals around ages that are multiples of 5 (except for the
 * range [0-2])": 0-2, 3-7, ..., 73-77 and 78+. An exact hit is its "±2.5 year" accuracy, a hit
 * within one band its "±5 year" accuracy.
 */
export const PAPER000_AGE_BANDS: ValueBands = Object.freeze({
  name: 'paper000',
  labels: Object.freeze(['0-2', ...Array.from({ length: 15 }, (_, i) => `${5 * i + 3}-${5 * i + 7}`), '78+']),
  starts: Object.freeze([0, ...Array.from({ length: 16 }, (_, i) => 5 * i + 3)]),
});

/** FairFace's 9 age groups (Kärkkäinen & Joo 2021; paper 001). */
export const FAIRFACE_AGE_BANDS: ValueBands = Object.freeze({
  name: 'fairface',
  labels: Object.freeze(['0-2', '3-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70+']),
  starts: Object.freeze([0, 3, 10, 20, 30, 40, 50, 60, 70]),
});

/**
 * Coarse life stages for fairness breakdowns: wide enough that a test split of ~1,000 faces
 * leaves every band with a usable count; 0-12 is its own band so children are reported apart
 * (issue 7: gender accuracy for ages 0–12 and 13+).
 */
export const FAIRNESS_AGE_BANDS: ValueBands = Object.freeze({
  name: 'age',
  labels: Object.freeze(['0-12', '13-19', '20-39', '40-59', '60+']),
  starts: Object.freeze([0, 13, 20, 40, 60]),
});

/** Children against everyone else (issue 7). */
export const CHILD_AGE_BANDS: ValueBands = Object.freeze({
  name: 'child',
  labels: Object.freeze(['0-12', '13+']),
  starts: Object.freeze([0, 13]),
});

/**
 * Childhood in the stages users complain about (issue 17: babies, small children, pre-teens):
 * UTKFace's test split has about 100 faces in each of 0-2, 3-7 and 8-12.
 */
export const CHILDHOOD_AGE_BANDS: ValueBands = Object.freeze({
  name: 'children',
  labels: Object.freeze(['0-2', '3-7', '8-12', '13-19', '20+']),
  starts: Object.freeze([0, 3, 8, 13, 20]),
});

/** The label of the band holding `years`. */
export function bandLabel(years: number, bands: ValueBands): string {
  return bands.labels[bandIndex(years, bands.starts)]!;
}
