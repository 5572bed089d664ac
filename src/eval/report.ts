/**
 * Every metric of an eval report, computed from per-sample results. Pure: the CLI collects
 * `EvalRecord`s and writes what this returns. Undefined quantities (the AUC of a class with no
 * samples) are null, as they would be in JSON anyway.
 */
import { meanCI, type MeanCI } from './bootstrap.js';
import { DEFAULT_CALIBRATION_BINS, expectedCalibrationError, reliabilityBins } from './calibration.js';
import type { AgeMetrics } from './age.js';
import { macroRoc, prCurve, rocCurve } from './curves.js';
import type { FairnessReport } from './fairness.js';
import { argmax, classificationReport, rowNormalise, topKAccuracy, type Averages } from './metrics.js';

/** One evaluated sample: true class and scores, both over the measured classes. */
export interface EvalRecord {
  /** The dataset's id of the sample (stable across runs: how compare pairs two reports). */
  readonly id: string;
  readonly truth: number;
  readonly scores: readonly number[];
}

export interface ClassMetrics {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
  /** One-vs-rest ROC AUC; null when the class has no samples (or every sample is of it). */
  readonly auc: number | null;
  readonly averagePrecision: number | null;
}

export interface RocJson {
  readonly fpr: readonly number[];
  readonly tpr: readonly number[];
  /** null at the origin (threshold +∞). */
  readonly thresholds: readonly (number | null)[];
  readonly auc: number;
}

export interface PrJson {
  readonly recall: readonly number[];
  readonly precision: readonly number[];
  readonly thresholds: readonly number[];
  readonly averagePrecision: number;
}

export interface EvalMetrics {
  readonly evaluated: number;
  readonly accuracy: number;
  readonly accuracyCI: MeanCI;
  readonly balancedAccuracy: number;
  readonly macroF1: number;
  readonly macro: Averages;
  readonly weighted: Averages;
  /** Mean one-vs-rest AUC over classes where it is defined. */
  readonly macroAuc: number | null;
  readonly macroAveragePrecision: number | null;
  readonly topK: readonly { readonly k: number; readonly accuracy: number }[];
  readonly calibration: {
    readonly ece: number;
    readonly bins: readonly { readonly lower: number; readonly upper: number; readonly count: number; readonly accuracy: number | null; readonly confidence: number | null }[];
  };
  readonly perClass: Readonly<Record<string, ClassMetrics>>;
  /** counts[true][predicted]. */
  readonly confusion: readonly (readonly number[])[];
  /** Each row divided by the class's support. */
  readonly confusionNormalised: readonly (readonly number[])[];
  readonly roc: { readonly macro: { readonly fpr: readonly number[]; readonly tpr: readonly number[] }; readonly perClass: Readonly<Record<string, RocJson | null>> };
  readonly pr: { readonly perClass: Readonly<Record<string, PrJson | null>> };
}

const orNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Curves are stored with at most this many points (evenly spaced, ends kept); AUC and AP use every point. */
const CURVE_POINTS = 400;

function thin<T extends object>(curve: T, keys: readonly (keyof T)[]): T {
  const len = (curve[keys[0]!] as readonly unknown[]).length;
  if (len <= CURVE_POINTS) return curve;
  const idx = Array.from({ length: CURVE_POINTS }, (_, i) => Math.round((i * (len - 1)) / (CURVE_POINTS - 1)));
  return { ...curve, ...Object.fromEntries(keys.map((k) => [k, idx.map((i) => (curve[k] as readonly unknown[])[i])])) };
}
const meanOf = (v: readonly number[]) => (v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length);

export function computeMetrics(classes: readonly string[], records: readonly EvalRecord[]): EvalMetrics {
  const truth = records.map((r) => r.truth);
  const scores = records.map((r) => r.scores);
  const pred = scores.map(argmax);
  const rep = classificationReport(truth, pred, classes.length);
  const correct = pred.map((p, i) => p === truth[i]);
  const rocs = classes.map((_, c) => rocCurve(truth.map((t) => t === c), scores.map((s) => s[c]!)));
  const prs = classes.map((_, c) => prCurve(truth.map((t) => t === c), scores.map((s) => s[c]!)));
  const bins = reliabilityBins(scores.map((s, i) => s[pred[i]!]!), correct, DEFAULT_CALIBRATION_BINS);
  const definedRocs = rocs.filter((r) => r !== undefined);
  return {
    evaluated: rep.n,
    accuracy: rep.accuracy,
    accuracyCI: meanCI(correct.map(Number)),
    balancedAccuracy: rep.balancedAccuracy,
    macroF1: rep.macroF1,
    macro: rep.macro,
    weighted: rep.weighted,
    macroAuc: meanOf(definedRocs.map((r) => r.auc)),
    macroAveragePrecision: meanOf(prs.flatMap((p) => (p === undefined ? [] : [p.averagePrecision]))),
    topK: [1, 2, 3].filter((k) => k <= classes.length).map((k) => ({ k, accuracy: topKAccuracy(truth, scores, k) })),
    calibration: { ece: expectedCalibrationError(bins), bins: bins.map((b) => ({ ...b, accuracy: orNull(b.accuracy), confidence: orNull(b.confidence) })) },
    perClass: Object.fromEntries(
      classes.map((c, i) => [c, { ...rep.perClass[i]!, auc: rocs[i]?.auc ?? null, averagePrecision: prs[i]?.averagePrecision ?? null }]),
    ),
    confusion: rep.confusion,
    confusionNormalised: rowNormalise(rep.confusion),
    roc: {
      macro: macroRoc(definedRocs),
      perClass: Object.fromEntries(classes.map((c, i) => {
        const r = rocs[i];
        return [c, r === undefined ? null : thin({ ...r, thresholds: r.thresholds.map(orNull) }, ['fpr', 'tpr', 'thresholds'])];
      })),
    },
    pr: { perClass: Object.fromEntries(classes.map((c, i) => { const p = prs[i]; return [c, p === undefined ? null : thin(p, ['recall', 'precision', 'thresholds'])]; })) },
  };
}

/** What every report.json holds, whatever the kind of target. */
export interface EvalReportBase {
  /** Report format version: 2 adds scores, curves, calibration, CIs and per-sample results (later, additively: `kind`, `fairness` and value reports). */
  readonly format: 2;
  /** `class` for class targets (absent from reports written before value reports existed), `value` for age. */
  readonly kind: 'class' | 'value';
  /** The model as given on the command line, and the id its manifest declares. */
  readonly model: string;
  readonly modelId: string;
  readonly task: string;
  /** `protocol`: how FER+ votes became labels, when chosen (`--protocol`); `perturbation`: the `--perturb` degradation. */
  readonly dataset: { readonly layout: string; readonly root: string; readonly split: string; readonly target: string; readonly classes?: readonly string[]; readonly protocol?: string; readonly perturbation?: string };
  readonly detector: string;
  readonly tta: boolean;
  /** Samples of the split with a label for the target that were read (the denominator); evaluated + skipped (bar loader problems). */
  readonly samples: number;
  /** Samples of the split with no label for the target (absent when none): not part of its test set. */
  readonly unlabelled?: number;
  readonly skipped: { readonly count: number; readonly items: readonly { readonly file: string; readonly reason: string }[] };
  readonly trainingLog?: { readonly file: string; readonly rows: readonly Readonly<Record<string, number>>[] };
  readonly seconds: number;
  readonly facesPerSecond: number;
  /** The headline metrics per demographic group, with the largest gaps; absent when no sample carries group labels. */
  readonly fairness?: FairnessReport;
}

/** report.json of a class target, as `facesense eval --out` writes it. */
export interface EvalReport extends EvalMetrics, EvalReportBase {
  readonly kind: 'class';
  readonly dataset: EvalReportBase['dataset'] & { readonly classes: readonly string[] };
  /** The classes measured: the dataset's classes that have a model counterpart, in dataset order. */
  readonly classes: readonly string[];
  readonly labelMap: {
    readonly identity: boolean;
    readonly mapped: readonly { readonly class: string; readonly modelLabels: readonly string[] }[];
    readonly unmatchedClasses: readonly string[];
    readonly droppedLabels: readonly string[];
    /** Samples skipped because their class has no model counterpart. */
    readonly unmatchedSamples: number;
    /** Evaluated samples whose highest raw score was a dropped label (predicted among the mapped ones instead). */
    readonly topLabelDropped: number;
  };
  /** The most confident mistakes, highest confidence first. */
  readonly mistakes: readonly { readonly id: string; readonly file: string; readonly truth: string; readonly predicted: string; readonly confidence: number }[];
  /** Per-sample results in evaluation order (dataset sample ids; class indices into `classes`; scores rounded to 1e-6), for paired comparisons. */
  readonly predictions: { readonly id: readonly string[]; readonly truth: readonly number[]; readonly predicted: readonly number[]; readonly scores: readonly (readonly number[])[] };
}

/** report.json of an age target (a value in years). */
export interface AgeEvalReport extends AgeMetrics, EvalReportBase {
  readonly kind: 'value';
  /** The largest absolute errors, largest first. */
  readonly largestErrors: readonly { readonly id: string; readonly file: string; readonly truthYears: number; readonly predictedYears: number }[];
  /** Per-sample results in evaluation order (predictions rounded to 1e-3 years). */
  readonly predictions: { readonly id: readonly string[]; readonly truthYears: readonly number[]; readonly predictedYears: readonly number[] };
}

export type AnyEvalReport = EvalReport | AgeEvalReport;
