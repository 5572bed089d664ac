/**
 * Self-contained HTML pages for eval and compare reports: inline CSS, inline SVG figures, inline
 * PNG thumbnails, no scripts and no external references, so a page opens offline as one file.
 * Pure string building; figures are rendered by charts.ts beforehand.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { AgeMetrics } from './age.js';
import { confusionChart, groupedBars, histogramChart, intervalChart, lineChart, reliabilityChart, scatterChart, type Series } from './charts.js';
import type { Comparison } from './compare.js';
import { CLASS_GROUP_METRICS, type FairnessReport } from './fairness.js';
import type { AgeEvalReport, AnyEvalReport, EvalReport, EvalReportBase } from './report.js';

export interface Figure {
  readonly title: string;
  readonly svg: string;
}

export interface GalleryItem {
  readonly file: string;
  readonly truth: string;
  readonly predicted: string;
  /** Shown after the prediction: the confidence of a class, the error of a value. */
  readonly detail: string;
  readonly thumbnail: { readonly uri: string } | { readonly error: string };
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(2)}%`);
export const num = (v: number | null, digits = 4) => (v === null ? '–' : v.toFixed(digits));

export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const tr = (cells: readonly string[], tag: string) => `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
  return `<table><thead>${tr(head, 'th')}</thead><tbody>${rows.map((r) => tr(r, 'td')).join('')}</tbody></table>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f4f4f4}
.figs{display:flex;flex-wrap:wrap;gap:1.5em}figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(130px,1fr));gap:.8em}
.gallery div{font-size:12px;text-align:center;overflow-wrap:anywhere}.gallery img{width:96px;height:96px;object-fit:contain;image-rendering:pixelated;background:#eee}
.note{color:#555}`;

export function page(title: string, body: string): string {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${STYLE}</style></head>\n<body>\n<h1>${esc(title)}</h1>\n${body}\n</body></html>\n`;
}

function figures(figs: readonly Figure[]): string {
  return `<div class="figs">${figs.map((f) => `<figure><figcaption>${esc(f.title)}</figcaption>${f.svg}</figure>`).join('')}</div>`;
}

/** Per-class series of one kind of curve, for classes where it exists. */
function curveSeries<T>(classes: readonly string[], get: (c: string) => T | null, xy: (v: T) => [readonly number[], readonly number[]]): Series[] {
  return classes.flatMap((c) => {
    const v = get(c);
    if (v === null) return [];
    const [x, y] = xy(v);
    return [{ name: c, x, y }];
  });
}

type Spec = { title: string; spec: TopLevelSpec };

/** The figures of an eval report, as Vega-Lite specs: the kind's own, per-group bars, training curves. */
export function evalFigureSpecs(r: AnyEvalReport): Spec[] {
  const own = r.kind === 'value' ? ageFigureSpecs(r) : classFigureSpecs(r);
  const fairness = r.fairness === undefined ? [] : fairnessFigureSpecs(r.fairness, r.kind === 'value' ? AGE_BAR_METRICS : CLASS_BAR_METRICS);
  return [...own, ...fairness, ...trainingLogSpecs(r)];
}

function classFigureSpecs(r: EvalReport): Spec[] {
  const { classes } = r;
  const roc = curveSeries(classes, (c) => r.roc.perClass[c] ?? null, (v) => [v.fpr, v.tpr]).map((s) => ({ ...s, name: `${s.name} (${r.perClass[s.name]!.auc!.toFixed(3)})` }));
  if (r.roc.macro.fpr.length > 0) roc.push({ name: `macro (${num(r.macroAuc, 3)})`, x: r.roc.macro.fpr, y: r.roc.macro.tpr });
  const pr = curveSeries(classes, (c) => r.pr.perClass[c] ?? null, (v) => [v.recall, v.precision]).map((s) => ({ ...s, name: `${s.name} (${r.perClass[s.name]!.averagePrecision!.toFixed(3)})` }));
  const metrics = ['precision', 'recall', 'f1'] as const;
  return [
    { title: 'Confusion matrix', spec: confusionChart(classes, r.confusionNormalised, r.confusion) },
    { title: 'Per-class precision, recall and F1', spec: groupedBars(classes.flatMap((c) => metrics.map((m) => ({ group: c, series: m, value: r.perClass[c]![m] }))), { title: 'Per class', y: 'value', groups: classes, series: metrics }) },
    { title: 'ROC curves (one vs rest; AUC)', spec: lineChart(roc, { title: 'ROC', x: 'false-positive rate', y: 'true-positive rate', diagonal: true }) },
    { title: 'Precision-recall curves (average precision)', spec: lineChart(pr, { title: 'Precision-recall', x: 'recall', y: 'precision' }) },
    { title: 'Reliability diagram (top-1 confidence, 15 bins)', spec: reliabilityChart(r.calibration.bins, r.calibration.ece) },
  ];
}

function ageFigureSpecs(r: AgeEvalReport): Spec[] {
  const { truthYears, predictedYears } = r.predictions;
  const cs = r.cumulativeScore;
  return [
    { title: 'Predicted against true age', spec: scatterChart(truthYears.map((t, i) => ({ x: t, y: predictedYears[i]! })), { title: `Predicted vs true (MAE ${r.maeYears.toFixed(2)} years)`, x: 'true age (years)', y: 'predicted age (years)' }) },
    { title: 'Error histogram (predicted − true, 1-year bins)', spec: histogramChart(predictedYears.map((p, i) => p - truthYears[i]!), { title: 'Signed error', x: 'error (years)', step: 1 }) },
    { title: 'Cumulative score (share with |error| ≤ k years)', spec: lineChart([{ name: 'CS', x: cs.map((c) => c.kYears), y: cs.map((c) => c.share) }], { title: 'Cumulative score', x: 'k (years)', y: 'share', unitDomain: 'y' }) },
    ...Object.values(r.bands).map((b) => ({ title: `Age bands: ${b.name} (exact ${pct(b.exact)}, ±1 band ${pct(b.withinOne)})`, spec: confusionChart(b.labels, b.confusionNormalised, b.confusion) })),
  ];
}

/** Which group metrics the per-group bars show: shares on a 0..1 axis, or years. */
interface BarMetrics {
  readonly metrics: readonly string[];
  readonly y: string;
  readonly unitDomain: boolean;
}
const CLASS_BAR_METRICS: BarMetrics = { metrics: CLASS_GROUP_METRICS, y: 'score', unitDomain: true };
const AGE_BAR_METRICS: BarMetrics = { metrics: ['maeYears'], y: 'MAE (years)', unitDomain: false };

/** Display names of group metrics; a name ending in Years is in years, any other is a share. */
const METRIC_NAMES: Readonly<Record<string, string>> = { accuracy: 'accuracy', balancedAccuracy: 'balanced accuracy', macroF1: 'macro F1', maeYears: 'MAE (years)', meanSignedErrorYears: 'mean signed error (years)', cs5: 'CS@5' };
export const metricName = (m: string) => METRIC_NAMES[m] ?? m;
const isYears = (m: string) => m.endsWith('Years');
export const metricValue = (m: string, v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : isYears(m) ? v.toFixed(2) : pct(v));
export const metricGap = (m: string, v: number) => (isYears(m) ? `${v.toFixed(2)} years` : `${(100 * v).toFixed(2)} pp`);

/** One bar chart per attribute: each group's metrics. */
function fairnessFigureSpecs(f: FairnessReport, bars: BarMetrics): Spec[] {
  return f.attributes
    .filter((a) => a.groups.length > 0)
    .map((a) => {
      const groups = a.groups.map((g) => `${g.group} (${g.count})`);
      const rows = a.groups.flatMap((g, i) => bars.metrics.map((m) => ({ group: groups[i]!, series: metricName(m), value: g.metrics[m]! })));
      return { title: `By ${a.attribute}`, spec: groupedBars(rows, { title: `${bars.metrics.map(metricName).join(', ')} by ${a.attribute}`, y: bars.y, groups, series: bars.metrics.map(metricName), unitDomain: bars.unitDomain }) };
    });
}

function trainingLogSpecs(r: EvalReportBase): Spec[] {
  const log = r.trainingLog?.rows;
  if (log === undefined || log.length === 0) return [];
  const col = (name: string) => log.map((row) => row[name]!);
  const epochs = col('epoch');
  const axis = { x: 'epoch', unitDomain: false };
  return [
    { title: 'Training loss', spec: lineChart([{ name: 'train', x: epochs, y: col('train_loss') }, { name: 'val', x: epochs, y: col('val_loss') }], { title: 'Loss', y: 'loss', ...axis }) },
    { title: 'Training accuracy', spec: lineChart([{ name: 'train', x: epochs, y: col('train_acc') }, { name: 'val', x: epochs, y: col('val_acc') }], { title: 'Accuracy', y: 'accuracy', ...axis }) },
    { title: 'Learning rate', spec: lineChart([{ name: 'lr', x: epochs, y: col('lr') }], { title: 'Learning rate', y: 'lr', ...axis }) },
  ];
}

function fairnessSection(f: FairnessReport): string {
  const parts = f.attributes.map((a) => {
    const rows = a.groups.map((g) => [esc(g.group), String(g.count), ...f.metrics.map((m) => metricValue(m, g.metrics[m]))]);
    const gaps = a.gaps.map((g) => `<li>${esc(metricName(g.metric))}: ${metricGap(g.metric, g.gap)} (highest ${esc(g.highest.group)} ${metricValue(g.metric, g.highest.value)}, lowest ${esc(g.lowest.group)} ${metricValue(g.metric, g.lowest.value)})</li>`);
    const note = a.unlabelled === 0 ? '' : `<p class="note">${a.unlabelled} evaluated samples have no ${esc(a.attribute)} label.</p>`;
    return [
      `<h3>By ${esc(a.attribute)}</h3>`,
      table(['group', 'count', ...f.metrics.map((m) => esc(metricName(m)))], rows),
      note,
      a.gaps.length === 0 ? `<p class="note">No gap: fewer than two groups with ${f.minGroupSize} or more samples.</p>` : `<p>Largest gaps:</p><ul>${gaps.join('')}</ul>`,
    ].join('');
  });
  return `<h2>Fairness</h2><p class="note">Gaps are highest − lowest over groups with at least ${f.minGroupSize} evaluated samples; smaller groups are listed but left out.</p>${parts.join('\n')}`;
}

function labelMapSection(r: EvalReport): string {
  const m = r.labelMap;
  if (m.identity) return '';
  const items = [
    `<li>Mapped: ${m.mapped.map((x) => `${esc(x.modelLabels.join(' + '))} → ${esc(x.class)}`).join(', ')}; scores renormalised over these classes.</li>`,
    m.unmatchedClasses.length === 0 ? '' : `<li>Dataset classes with no model counterpart (samples skipped): ${esc(m.unmatchedClasses.join(', '))} — ${m.unmatchedSamples} samples.</li>`,
    m.droppedLabels.length === 0 ? '' : `<li>Model labels dropped: ${esc(m.droppedLabels.join(', '))} — top label of ${m.topLabelDropped} evaluated samples.</li>`,
  ];
  return `<h2>Label mapping</h2><ul>${items.join('')}</ul>`;
}

function classSummary(r: EvalReport): string[] {
  const perClass = table(
    ['class', 'precision', 'recall', 'F1', 'support', 'ROC AUC', 'avg precision'],
    r.classes.map((c) => {
      const p = r.perClass[c]!;
      return [esc(c), num(p.precision), num(p.recall), num(p.f1), String(p.support), num(p.auc), num(p.averagePrecision)];
    }),
  );
  return [
    table(
      ['metric', 'value'],
      [
        countRow(r),
        ['accuracy (95% CI)', `${pct(r.accuracy)} (${pct(r.accuracyCI.lower)}–${pct(r.accuracyCI.upper)})`],
        ['balanced accuracy', pct(r.balancedAccuracy)],
        ['macro precision / recall / F1', `${num(r.macro.precision)} / ${num(r.macro.recall)} / ${num(r.macro.f1)}`],
        ['weighted precision / recall / F1', `${num(r.weighted.precision)} / ${num(r.weighted.recall)} / ${num(r.weighted.f1)}`],
        ['macro ROC AUC / mean average precision', `${num(r.macroAuc)} / ${num(r.macroAveragePrecision)}`],
        ...r.topK.map((t) => [`top-${t.k} accuracy`, pct(t.accuracy)]),
        ['expected calibration error', num(r.calibration.ece)],
        ...runRows(r),
      ],
    ),
    labelMapSection(r),
    '<h2>Per class</h2>',
    perClass,
  ];
}

function ageSummary(r: AgeMetrics & EvalReportBase): string[] {
  const years = (v: number) => `${v.toFixed(2)} years`;
  const bands = Object.values(r.bands);
  return [
    table(
      ['metric', 'value'],
      [
        countRow(r),
        ['MAE (95% CI)', `${years(r.maeYears)} (${r.maeCI.lower.toFixed(2)}–${r.maeCI.upper.toFixed(2)})`],
        ['RMSE', years(r.rmseYears)],
        ['mean signed error (predicted − true)', years(r.meanSignedErrorYears)],
        ['paper 000 accuracy ±2.5 / ±5 years (5-year bands: exact / ±1 band)', `${pct(r.paper000.within2_5Years)} / ${pct(r.paper000.within5Years)}`],
        ...runRows(r),
      ],
    ),
    '<h2>Cumulative score</h2>',
    table(['k (years)', ...r.cumulativeScore.map((c) => String(c.kYears))], [['share with |error| ≤ k', ...r.cumulativeScore.map((c) => pct(c.share))]]),
    '<h2>Age bands</h2>',
    table(
      ['bands', 'exact', '±1 band', 'exact, bands weighted equally', '±1 band, bands weighted equally'],
      bands.map((b) => [`${esc(b.name)} (${b.labels.length}: ${esc(b.labels.join(', '))})`, pct(b.exact), pct(b.withinOne), pct(b.balancedExact), pct(b.balancedWithinOne)]),
    ),
  ];
}

function countRow(r: EvalReportBase & { readonly evaluated: number }): string[] {
  const unlabelled = r.unlabelled === undefined ? '' : ` (${r.unlabelled} more without a ${esc(r.dataset.target)} label)`;
  return ['samples read / evaluated / skipped', `${r.samples} / ${r.evaluated} / ${r.skipped.count}${unlabelled}`];
}

function runRows(r: EvalReportBase): string[][] {
  return [
    ['detector / flip TTA', `${esc(r.detector)} / ${r.tta ? 'yes' : 'no'}`],
    ['time', `${r.seconds.toFixed(1)} s (${r.facesPerSecond.toFixed(0)} faces/s)`],
  ];
}

export function evalReportHtml(r: AnyEvalReport, figs: readonly Figure[], gallery: readonly GalleryItem[]): string {
  const title = `${r.modelId} on ${r.dataset.layout} ${r.dataset.split} (${r.dataset.target})`;
  const cards = gallery.map((g) => {
    const pic = 'uri' in g.thumbnail ? `<img src="${g.thumbnail.uri}" alt="${esc(g.file)}">` : `<p class="note">no thumbnail: ${esc(g.thumbnail.error)}</p>`;
    return `<div>${pic}<br>true <b>${esc(g.truth)}</b><br>predicted <b>${esc(g.predicted)}</b> (${esc(g.detail)})<br><span class="note">${esc(g.file.split(/[\\/]/).pop() ?? g.file)}</span></div>`;
  });
  const skipped = r.skipped.items.map((s) => `<li>${esc(s.file)}: ${esc(s.reason)}</li>`).join('');
  const ci = r.kind === 'value' ? r.maeCI : r.accuracyCI;
  return page(
    title,
    [
      `<p class="note">Model ${esc(r.model)} (task ${esc(r.task)}); dataset root ${esc(r.dataset.root)}. ${r.kind === 'value' ? 'MAE' : 'Accuracy'} CI: ${ci.method}, ${ci.resamples} resamples, seed ${ci.seed}.</p>`,
      ...(r.kind === 'value' ? ageSummary(r) : classSummary(r)),
      r.fairness === undefined ? '' : fairnessSection(r.fairness),
      '<h2>Figures</h2>',
      figures(figs),
      `<h2>${r.kind === 'value' ? 'Largest errors' : 'Most confident mistakes'}</h2>`,
      gallery.length === 0 ? '<p>No mistakes.</p>' : `<div class="gallery">${cards.join('')}</div>`,
      `<h2>Skipped (${r.skipped.count})</h2>`,
      r.skipped.count === 0 ? '<p>None.</p>' : `<details><summary>every skipped file with its reason</summary><ul>${skipped}</ul></details>`,
    ].join('\n'),
  );
}

/** Signed percentage points, e.g. +1.23 pp. */
export const pp = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(100 * v).toFixed(2)} pp`;

/** The figures of a comparison, as Vega-Lite specs. */
export function compareFigureSpecs(c: Comparison): { title: string; spec: TopLevelSpec }[] {
  const specs: { title: string; spec: TopLevelSpec }[] = [];
  if (c.roc.length > 0) {
    specs.push({ title: 'Macro-average ROC curves', spec: lineChart(c.roc.map((r) => ({ name: r.name, x: r.fpr, y: r.tpr })), { title: 'Macro ROC', x: 'false-positive rate', y: 'true-positive rate', diagonal: true }) });
  }
  const rows = c.classes.flatMap((cls) => c.models.flatMap((m) => {
    const f1 = m.perClassF1[cls];
    return f1 === null || f1 === undefined ? [] : [{ group: cls, series: m.name, value: f1 }];
  }));
  specs.push({ title: 'Per-class F1', spec: groupedBars(rows, { title: 'F1 per class', y: 'F1', groups: c.classes, series: c.models.map((m) => m.name) }) });
  if (c.differences.length > 0) {
    specs.push({ title: `Accuracy difference vs ${c.models[0]!.name} (${100 * c.level}% CI)`, spec: intervalChart(c.differences, { title: 'Accuracy difference', x: 'accuracy difference' }) });
  }
  return specs;
}

export function compareHtml(c: Comparison, figs: readonly Figure[]): string {
  const ci = (m: Comparison['models'][number]) => (m.accuracyCI === null ? '' : ` (${pct(m.accuracyCI.lower)}–${pct(m.accuracyCI.upper)})`);
  const models = table(
    ['model', 'dataset', 'evaluated', 'accuracy (95% CI)', 'balanced accuracy', 'macro F1', 'macro AUC', 'ECE'],
    c.models.map((m) => [esc(m.name), esc(m.dataset), String(m.evaluated), `${pct(m.accuracy)}${ci(m)}`, pct(m.balancedAccuracy), num(m.macroF1), num(m.macroAuc), num(m.ece)]),
  );
  const perClass = table(['class', ...c.models.map((m) => esc(m.name))], c.classes.map((cls) => [esc(cls), ...c.models.map((m) => num(m.perClassF1[cls] ?? null))]));
  const diffs = table(
    ['model', 'minus', 'accuracy difference', '95% CI', 'method', 'samples'],
    c.differences.map((d) => [esc(d.name), esc(d.baseline), pp(d.estimate), `${pp(d.lower)} … ${pp(d.upper)}`, d.method, d.samples.join(' / ')]),
  );
  const sources = `<ul>${c.models.map((m) => `<li>${esc(m.name)}: ${esc(m.source)}</li>`).join('')}</ul>`;
  return page(
    'Model comparison',
    ['<h2>Models</h2>', models, '<h2>F1 per class</h2>', perClass, c.differences.length === 0 ? '' : `<h2>Accuracy differences</h2>${diffs}`, '<h2>Figures</h2>', figures(figs), '<h2>Reports</h2>', sources].join('\n'),
  );
}
