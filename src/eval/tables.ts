/** CSV tables of an eval report (RFC 4180 quoting). Pure: report → file name and text. */
import type { EvalReport } from './report.js';

type Cell = string | number | boolean | null;

function csvCell(v: Cell): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

export function reportTables(r: EvalReport): { name: string; text: string }[] {
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
    { name: 'skipped.csv', text: toCsv(['file', 'reason'], r.skipped.items.map((s) => [s.file, s.reason])) },
  ];
}
