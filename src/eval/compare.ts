/**
 * Side-by-side comparison of eval reports: headline metrics, per-class F1, macro ROC curves, and
 * the accuracy difference of each report against the first with a 95% CI — a paired bootstrap when
 * both reports hold per-sample results for the same samples in the same order, an unpaired one when
 * they hold per-sample results for different samples, and a normal approximation for reports
 * written before per-sample results were stored. Pure.
 */
import { OptionError } from '../core/errors.js';
import { bootstrapDifference, DEFAULT_BOOTSTRAP, normalDifference } from './bootstrap.js';

/** What compare reads from a report.json; the optional fields are absent from format-1 reports. */
export interface ComparableReport {
  readonly modelId: string;
  readonly dataset: { readonly layout: string; readonly split: string; readonly target: string };
  readonly evaluated: number;
  readonly accuracy: number;
  readonly balancedAccuracy: number;
  readonly macroF1: number;
  readonly perClass: Readonly<Record<string, { readonly f1: number }>>;
  readonly accuracyCI?: { readonly lower: number; readonly upper: number };
  readonly macroAuc?: number | null;
  readonly calibration?: { readonly ece: number };
  readonly roc?: { readonly macro: { readonly fpr: readonly number[]; readonly tpr: readonly number[] } };
  readonly predictions?: { readonly id: readonly string[]; readonly truth: readonly number[]; readonly predicted: readonly number[] };
}

export type DifferenceMethod = 'paired bootstrap' | 'unpaired bootstrap' | 'normal approximation';

export interface ModelRow {
  readonly name: string;
  readonly source: string;
  readonly dataset: string;
  readonly evaluated: number;
  readonly accuracy: number;
  readonly accuracyCI: { readonly lower: number; readonly upper: number } | null;
  readonly balancedAccuracy: number;
  readonly macroF1: number;
  readonly macroAuc: number | null;
  readonly ece: number | null;
  /** null where the report did not measure the class. */
  readonly perClassF1: Readonly<Record<string, number | null>>;
}

export interface Difference {
  /** accuracy(name) − accuracy(baseline). */
  readonly name: string;
  readonly baseline: string;
  readonly estimate: number;
  readonly lower: number;
  readonly upper: number;
  readonly method: DifferenceMethod;
  /** Samples behind the paired estimate, or each side's count otherwise. */
  readonly samples: readonly number[];
}

export interface Comparison {
  readonly models: readonly ModelRow[];
  /** Every class any report measured, in first-seen order. */
  readonly classes: readonly string[];
  readonly differences: readonly Difference[];
  readonly level: number;
  readonly roc: readonly { readonly name: string; readonly fpr: readonly number[]; readonly tpr: readonly number[] }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks the fields compare needs; `source` names the file in the error. */
export function asComparableReport(json: unknown, source: string): ComparableReport {
  const need = (ok: boolean, field: string) => {
    if (!ok) throw new OptionError(`${source} is not a facesense eval report (${field} missing or malformed); write one with facesense eval --out DIR`);
  };
  need(isObject(json), 'top-level object');
  const r = json as Record<string, unknown>;
  if (r.kind === 'value') throw new OptionError(`${source} is a value (age) report; compare measures class reports (accuracy) only: compare age reports by their MAE`);
  need(typeof r.modelId === 'string', 'modelId');
  need(isObject(r.dataset) && ['layout', 'split', 'target'].every((f) => typeof (r.dataset as Record<string, unknown>)[f] === 'string'), 'dataset');
  for (const f of ['evaluated', 'accuracy', 'balancedAccuracy', 'macroF1']) need(typeof r[f] === 'number', f);
  need(isObject(r.perClass), 'perClass');
  if (r.predictions !== undefined) {
    const p = r.predictions as Record<string, unknown>;
    need(isObject(p) && Array.isArray(p.id) && Array.isArray(p.truth) && Array.isArray(p.predicted) && p.id.length === p.truth.length && p.truth.length === p.predicted.length, 'predictions');
  }
  return json as ComparableReport;
}

function correctness(r: ComparableReport): number[] | undefined {
  const p = r.predictions;
  return p === undefined ? undefined : p.truth.map((t, i) => (p.predicted[i] === t ? 1 : 0));
}

const sameIds = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((id, i) => id === b[i]);

/** Display names: model ids, with the dataset when the reports cover several, numbered if still equal. */
function names(reports: readonly ComparableReport[]): string[] {
  const ds = (r: ComparableReport) => `${r.dataset.layout} ${r.dataset.split}`;
  const oneDataset = new Set(reports.map(ds)).size === 1;
  const base = reports.map((r) => (oneDataset ? r.modelId : `${r.modelId} · ${ds(r)}`));
  return base.map((n, i) => (base.filter((m) => m === n).length > 1 ? `${n} #${i + 1}` : n));
}

export function compareReports(inputs: readonly { readonly source: string; readonly report: ComparableReport }[]): Comparison {
  if (inputs.length === 0) throw new OptionError('compare needs at least one report.json');
  const reports = inputs.map((i) => i.report);
  const label = names(reports);
  const classes = [...new Set(reports.flatMap((r) => Object.keys(r.perClass)))];
  const models = inputs.map(({ source, report: r }, i): ModelRow => ({
    name: label[i]!,
    source,
    dataset: `${r.dataset.layout} ${r.dataset.split} (${r.dataset.target})`,
    evaluated: r.evaluated,
    accuracy: r.accuracy,
    accuracyCI: r.accuracyCI === undefined ? null : { lower: r.accuracyCI.lower, upper: r.accuracyCI.upper },
    balancedAccuracy: r.balancedAccuracy,
    macroF1: r.macroF1,
    macroAuc: r.macroAuc ?? null,
    ece: r.calibration?.ece ?? null,
    perClassF1: Object.fromEntries(classes.map((c) => [c, r.perClass[c]?.f1 ?? null])),
  }));
  const first = reports[0]!;
  const firstCorrect = correctness(first);
  const differences = reports.slice(1).map((r, j): Difference => {
    const c = correctness(r);
    const common = { name: label[j + 1]!, baseline: label[0]! };
    if (c === undefined || firstCorrect === undefined) {
      return { ...common, ...normalDifference(first.accuracy, first.evaluated, r.accuracy, r.evaluated), method: 'normal approximation', samples: [first.evaluated, r.evaluated] };
    }
    const paired = sameIds(first.predictions!.id, r.predictions!.id);
    const d = bootstrapDifference(firstCorrect, c, paired);
    return { ...common, ...d, method: paired ? 'paired bootstrap' : 'unpaired bootstrap', samples: paired ? [c.length] : [firstCorrect.length, c.length] };
  });
  const roc = reports.flatMap((r, i) => (r.roc === undefined || r.roc.macro.fpr.length === 0 ? [] : [{ name: label[i]!, fpr: r.roc.macro.fpr, tpr: r.roc.macro.tpr }]));
  return { models, classes, differences, level: DEFAULT_BOOTSTRAP.level, roc };
}
