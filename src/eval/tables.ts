/** CSV tables of an eval report (RFC 4180 quoting). Pure: report → file name and text. */
import type { FairnessReport } from './fairness.js';
import type { AgeEvalReport, AnyEvalReport, EvalReport } from './report.js';

type Cell = string | number | boolean | null;

function csvCell(v: Cell): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

interface Table {
  readonly name: string;
  readonly text: string;
}

/** Every table of a report: the kind's own, then fairness (when measured) and the skipped files. */
export function reportTables(r: AnyEvalReport): Table[] {
  return [
    ...(r.kind === 'value' ? ageTables(r) : classTables(r)),
    ...(r.fairness === undefined ? [] : fairnessTables(r.fairness)),
    { name: 'skipped.csv', text: toCsv(['file', 'reason'], r.skipped.items.map((s) => [s.file, s.reason])) },
  ];
}

/** camelCase metric names as snake_case CSV columns (maeYears → mae_years). */
export const snakeCase = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function fairnessTables(f: FairnessReport): Table[] {
  return [
    {
      name: 'fairness.csv',
      text: toCsv(
        ['attribute', 'group', 'count', ...f.metrics.map(snakeCase)],
        f.attributes.flatMap((a) => a.groups.map((g) => [a.attribute, g.group, g.count, ...f.metrics.map((m) => g.metrics[m] ?? null)])),
      ),
    },
    {
      name: 'fairness_gaps.csv',
      text: toCsv(
        ['attribute', 'metric', 'gap', 'highest_group', 'highest', 'lowest_group', 'lowest'],
        f.attributes.flatMap((a) => a.gaps.map((g) => [a.attribute, snakeCase(g.metric), g.gap, g.highest.group, g.highest.value, g.lowest.group, g.lowest.value])),
      ),
    },
  ];
}

function ageTables(r: AgeEvalReport): Table[] {
  const bands = Object.values(r.bands);
  return [
    {
      name: 'summary.csv',
      text: toCsv(['metric', 'value'], [
        ['samples', r.samples],
        ['evaluated', r.evaluated],
        ['skipped', r.skipped.count],
        ['mae_years', r.maeYears],
        ['mae_ci_lower', r.maeCI.lower],
        ['mae_ci_upper', r.maeCI.upper],
        ['rmse_years', r.rmseYears],
        ['mean_signed_error_years', r.meanSignedErrorYears],
        ...r.cumulativeScore.map((c): Cell[] => [`cs${c.kYears}`, c.share]),
        ...bands.flatMap((b): Cell[][] => [
          [`${b.name}_exact`, b.exact],
          [`${b.name}_within_one`, b.withinOne],
          [`${b.name}_balanced_exact`, b.balancedExact],
          [`${b.name}_balanced_within_one`, b.balancedWithinOne],
        ]),
        ['paper000_within_2_5_years', r.paper000.within2_5Years],
        ['paper000_within_5_years', r.paper000.within5Years],
      ]),
    },
    { name: 'cumulative_score.csv', text: toCsv(['k_years', 'share'], r.cumulativeScore.map((c) => [c.kYears, c.share])) },
    ...bands.map((b) => ({ name: `confusion_${b.name}.csv`, text: toCsv(['true\\predicted', ...b.labels], b.labels.map((l, i) => [l, ...b.confusion[i]!])) })),
    {
      name: 'predictions.csv',
      text: toCsv(
        ['id', 'true_years', 'predicted_years', 'error_years'],
        r.predictions.id.map((id, i) => {
          const t = r.predictions.truthYears[i]!;
          const p = r.predictions.predictedYears[i]!;
          return [id, t, p, Math.round((p - t) * 1000) / 1000];
        }),
      ),
    },
  ];
}

function classTables(r: EvalReport): Table[] {
  const { classes } = r;
  const curveRows = <T>(get: (c: string) => T | null, rows: (c: string, v: T) => Cell[][]) => classes.flatMap((c) => {
    const v = get(c);
    return v === null ? [] : rows(c, v);
  });
  return [
    {
      name: 'per_class.csv',
      text: toCsv(
        ['class', 'precision', 'recall', 'f1', 'support', 'auc', 'average_precision'],
        classes.map((c) => {
          const p = r.perClass[c]!;
          return [c, p.precision, p.recall, p.f1, p.support, p.auc, p.averagePrecision];
        }),
      ),
    },
    { name: 'confusion.csv', text: toCsv(['true\\predicted', ...classes], classes.map((c, i) => [c, ...r.confusion[i]!])) },
    { name: 'confusion_normalised.csv', text: toCsv(['true\\predicted', ...classes], classes.map((c, i) => [c, ...r.confusionNormalised[i]!])) },
    {
      name: 'summary.csv',
      text: toCsv(['metric', 'value'], [
        ['samples', r.samples],
        ['evaluated', r.evaluated],
        ['skipped', r.skipped.count],
        ['accuracy', r.accuracy],
        ['accuracy_ci_lower', r.accuracyCI.lower],
        ['accuracy_ci_upper', r.accuracyCI.upper],
        ['balanced_accuracy', r.balancedAccuracy],
        ['macro_precision', r.macro.precision],
        ['macro_recall', r.macro.recall],
        ['macro_f1', r.macro.f1],
        ['weighted_precision', r.weighted.precision],
        ['weighted_recall', r.weighted.recall],
        ['weighted_f1', r.weighted.f1],
        ['macro_auc', r.macroAuc],
        ['macro_average_precision', r.macroAveragePrecision],
        ...r.topK.map((t): Cell[] => [`top${t.k}_accuracy`, t.accuracy]),
        ['ece', r.calibration.ece],
      ]),
    },
    { name: 'roc.csv', text: toCsv(['class', 'fpr', 'tpr', 'threshold'], curveRows((c) => r.roc.perClass[c] ?? null, (c, v) => v.fpr.map((f, i) => [c, f, v.tpr[i]!, v.thresholds[i] ?? null]))) },
    { name: 'pr.csv', text: toCsv(['class', 'recall', 'precision', 'threshold'], curveRows((c) => r.pr.perClass[c] ?? null, (c, v) => v.recall.map((x, i) => [c, x, v.precision[i]!, v.thresholds[i]!]))) },
    { name: 'reliability.csv', text: toCsv(['bin_lower', 'bin_upper', 'count', 'accuracy', 'mean_confidence'], r.calibration.bins.map((b) => [b.lower, b.upper, b.count, b.accuracy, b.confidence])) },
    {
      name: 'predictions.csv',
      text: toCsv(
        ['id', 'true', 'predicted', 'correct', 'confidence', ...classes.map((c) => `p_${c}`)],
        r.predictions.id.map((f, i) => {
          const s = r.predictions.scores[i]!;
          const p = r.predictions.predicted[i]!;
          return [f, classes[r.predictions.truth[i]!]!, classes[p]!, p === r.predictions.truth[i], s[p]!, ...s];
        }),
      ),
    },
  ];
}
