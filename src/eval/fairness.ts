/**
 * Fairness breakdowns: the report's headline metrics per demographic group, and the largest gap
 * between groups of each attribute. Pure: the caller gives each evaluated sample's group labels
 * and a function that measures any subset of samples.
 */
import { bandLabel, CHILD_AGE_BANDS, CHILDHOOD_AGE_BANDS, FAIRNESS_AGE_BANDS } from '../core/age-bands.js';
import type { Sample } from '../data/types.js';
import { cumulativeScore, meanAbsoluteError, meanSignedError } from './age.js';
import { classificationReport } from './metrics.js';

/** A way of grouping samples, read from what the loader gives each sample. */
export interface GroupAttribute {
  readonly name: string;
  /** The dataset target it is read from: left out of the default breakdown of that target. */
  readonly target: string;
  /** Group order in tables and figures, where it is fixed (else: the dataset's classes, else first seen). */
  readonly order?: readonly string[];
  of(sample: Sample): string | undefined;
}

const ageOf = (s: Sample): number | undefined => {
  const a = s.labels.age;
  return typeof a === 'number' && Number.isFinite(a) ? a : undefined;
};

/** Every attribute eval can break results down by (`--groups`). */
export const GROUP_ATTRIBUTES: readonly GroupAttribute[] = Object.freeze([
  { name: 'ethnicity', target: 'ethnicity', of: (s: Sample) => s.groups?.ethnicity },
  { name: 'gender', target: 'gender', of: (s: Sample) => s.groups?.gender },
  { name: 'age', target: 'age', order: FAIRNESS_AGE_BANDS.labels, of: (s: Sample) => { const a = ageOf(s); return a === undefined ? undefined : bandLabel(a, FAIRNESS_AGE_BANDS); } },
  { name: 'child', target: 'age', order: CHILD_AGE_BANDS.labels, of: (s: Sample) => { const a = ageOf(s); return a === undefined ? undefined : bandLabel(a, CHILD_AGE_BANDS); } },
  { name: 'children', target: 'age', order: CHILDHOOD_AGE_BANDS.labels, of: (s: Sample) => { const a = ageOf(s); return a === undefined ? undefined : bandLabel(a, CHILDHOOD_AGE_BANDS); } },
  // Appearance labels flagged as a guess or disagreed on by the annotators, against confident ones.
  { name: 'unsure', target: 'appearance', order: ['no', 'yes'], of: (s: Sample) => s.groups?.appearanceUnsure },
]);

/** The metrics (by name) of the samples at the given indices. */
export type Measure = (indices: readonly number[]) => Readonly<Record<string, number>>;

/** Groups with fewer evaluated samples than this are listed but left out of the gaps. */
export const DEFAULT_MIN_GROUP_SIZE = 10;

/** Each attribute's group label of a sample (attributes it has no label for are absent). */
export function groupLabels(sample: Sample, attributes: readonly GroupAttribute[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of attributes) {
    const g = a.of(sample);
    if (g !== undefined) out[a.name] = g;
  }
  return out;
}

export interface GroupResult {
  readonly group: string;
  readonly count: number;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface Gap {
  readonly metric: string;
  /** highest − lowest, over groups with at least `minGroupSize` samples. */
  readonly gap: number;
  readonly highest: { readonly group: string; readonly value: number };
  readonly lowest: { readonly group: string; readonly value: number };
}

export interface AttributeBreakdown {
  readonly attribute: string;
  /** Evaluated samples with no label for this attribute (in no group). */
  readonly unlabelled: number;
  readonly groups: readonly GroupResult[];
  /** One per metric; empty when fewer than two groups are large enough. */
  readonly gaps: readonly Gap[];
}

export interface FairnessReport {
  readonly minGroupSize: number;
  /** Metric names, in display order; each group's `metrics` has these keys. */
  readonly metrics: readonly string[];
  readonly attributes: readonly AttributeBreakdown[];
}

/** Groups in `order` first (those present), then the rest in first-seen order. */
export function orderGroups(seen: readonly string[], order: readonly string[] = []): string[] {
  const present = new Set(seen);
  return [...new Set([...order.filter((g) => present.has(g)), ...seen])];
}

/** Largest minus smallest value of each metric over the eligible groups. */
export function largestGaps(groups: readonly GroupResult[], metrics: readonly string[], minGroupSize: number): Gap[] {
  const eligible = groups.filter((g) => g.count >= minGroupSize);
  if (eligible.length < 2) return [];
  return metrics.flatMap((metric) => {
    const rows = eligible.map((g) => ({ group: g.group, value: g.metrics[metric]! })).filter((r) => Number.isFinite(r.value));
    if (rows.length < 2) return [];
    const highest = rows.reduce((a, b) => (b.value > a.value ? b : a));
    const lowest = rows.reduce((a, b) => (b.value < a.value ? b : a));
    return [{ metric, gap: highest.value - lowest.value, highest, lowest }];
  });
}

/**
 * Breaks results down by each attribute. `labels[i]` holds sample i's groups; `measure` returns
 * the metrics (names as in `metrics`) of the samples at the given indices.
 */
export function fairnessBreakdown(
  labels: readonly Readonly<Record<string, string>>[],
  attributes: readonly { readonly name: string; readonly order?: readonly string[] }[],
  metrics: readonly string[],
  measure: Measure,
  minGroupSize = DEFAULT_MIN_GROUP_SIZE,
): FairnessReport {
  return {
    minGroupSize,
    metrics,
    attributes: attributes.map((a) => {
      const members = new Map<string, number[]>();
      let unlabelled = 0;
      labels.forEach((l, i) => {
        const g = l[a.name];
        if (g === undefined) return void unlabelled++;
        const list = members.get(g);
        if (list === undefined) members.set(g, [i]);
        else list.push(i);
      });
      const groups = orderGroups([...members.keys()], a.order).map((group) => {
        const idx = members.get(group)!;
        return { group, count: idx.length, metrics: measure(idx) };
      });
      return { attribute: a.name, unlabelled, groups, gaps: largestGaps(groups, metrics, minGroupSize) };
    }),
  };
}

/**
 * The attributes to break a target down by: those named (`--groups`, checked against
 * GROUP_ATTRIBUTES), else every attribute some sample has a label for, bar those read from the
 * target itself. Unknown names are returned apart so the caller can say what is allowed.
 */
export function pickAttributes(requested: readonly string[] | undefined, target: string): { attributes: GroupAttribute[]; unknown: string[] } {
  if (requested === undefined) return { attributes: GROUP_ATTRIBUTES.filter((a) => a.target !== target), unknown: [] };
  const unknown = requested.filter((n) => !GROUP_ATTRIBUTES.some((a) => a.name === n));
  return { attributes: GROUP_ATTRIBUTES.filter((a) => requested.includes(a.name)), unknown };
}

const pick = <T>(v: readonly T[], idx: readonly number[]) => idx.map((i) => v[i]!);

/** The headline metrics of a class target, per group. */
export const CLASS_GROUP_METRICS: readonly string[] = Object.freeze(['accuracy', 'balancedAccuracy', 'macroF1']);

/** Measures a subset of class predictions (indices 0..k-1). */
export function classMeasure(truth: readonly number[], predicted: readonly number[], k: number): Measure {
  return (idx) => {
    const r = classificationReport(pick(truth, idx), pick(predicted, idx), k);
    return { accuracy: r.accuracy, balancedAccuracy: r.balancedAccuracy, macroF1: r.macroF1 };
  };
}

/** The headline metrics of an age target, per group. */
export const AGE_GROUP_METRICS: readonly string[] = Object.freeze(['maeYears', 'cs5', 'meanSignedErrorYears']);

/** Measures a subset of age predictions (years). */
export function ageMeasure(truth: readonly number[], predicted: readonly number[]): Measure {
  return (idx) => {
    const t = pick(truth, idx);
    const p = pick(predicted, idx);
    return { maeYears: meanAbsoluteError(t, p), cs5: cumulativeScore(t, p, 5), meanSignedErrorYears: meanSignedError(t, p) };
  };
}
