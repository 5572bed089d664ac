/**
 * Figures for the HTML reports: small Vega-Lite specs (pure data → spec) and one renderer that
 * turns a spec into an SVG string in Node through Vega's headless view (renderer 'none', no
 * canvas, no network: every spec carries its data inline).
 */
import type { TopLevelSpec } from 'vega-lite';
import { importOptional } from '../optional-deps.js';

export interface Series {
  readonly name: string;
  readonly x: readonly number[];
  readonly y: readonly number[];
}

const SIZE = { width: 300, height: 300 };
/** Most points drawn per line: curves over thousands of samples look the same with fewer. */
const MAX_POINTS = 400;
/** Most points drawn in a scatter plot (a test split of a few thousand faces is drawn whole). */
const MAX_SCATTER_POINTS = 5000;

/** Evenly spaced indices 0..n-1 (first and last kept), at most `max` of them. */
export function thinIndices(n: number, max = MAX_POINTS): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: max }, (_, i) => Math.round((i * (n - 1)) / (max - 1)));
}

/**
 * Lines (one per series, drawn in point order), optionally with the chance diagonal. Both axes
 * span 0..1 unless `unitDomain` is false (neither) or 'y' (only y: shares over a free x).
 */
export function lineChart(series: readonly Series[], o: { title: string; x: string; y: string; diagonal?: boolean; unitDomain?: boolean | 'y' }): TopLevelSpec {
  const values = series.flatMap((s) => thinIndices(s.x.length).map((i, order) => ({ series: s.name, x: s.x[i]!, y: s.y[i]!, order })));
  const unit = { scale: { domain: [0, 1] } };
  const xScale = o.unitDomain === false || o.unitDomain === 'y' ? {} : unit;
  const yScale = o.unitDomain === false ? {} : unit;
  const lines = {
    data: { values },
    mark: { type: 'line' as const, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative' as const, title: o.x, ...xScale },
      y: { field: 'y', type: 'quantitative' as const, title: o.y, ...yScale },
      color: { field: 'series', type: 'nominal' as const, title: null, sort: series.map((s) => s.name) },
      order: { field: 'order', type: 'quantitative' as const },
    },
  };
  const diagonal = {
    data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
    mark: { type: 'line' as const, strokeDash: [4, 4], color: '#999', strokeWidth: 1 },
    encoding: { x: { field: 'x', type: 'quantitative' as const }, y: { field: 'y', type: 'quantitative' as const } },
  };
  return { title: o.title, ...SIZE, layer: o.diagonal === true ? [diagonal, lines] : [lines] };
}

/** Heat map of a row-normalised confusion matrix, each cell labelled with its fraction. */
export function confusionChart(classes: readonly string[], normalised: readonly (readonly number[])[], counts: readonly (readonly number[])[]): TopLevelSpec {
  const values = classes.flatMap((t, i) => classes.map((p, j) => ({ truth: t, predicted: p, fraction: normalised[i]![j]!, count: counts[i]![j]! })));
  const cell = 36;
  const axis = { sort: [...classes] };
  return {
    title: 'Confusion (rows normalised to 1)',
    width: cell * classes.length,
    height: cell * classes.length,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'nominal', title: 'predicted', ...axis },
      y: { field: 'truth', type: 'nominal', title: 'true', ...axis },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'fraction', type: 'quantitative', scale: { scheme: 'blues', domain: [0, 1] }, title: 'fraction' } } },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          text: { field: 'fraction', type: 'quantitative', format: '.2f' },
          color: { condition: { test: 'datum.fraction > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

/** Reliability diagram: accuracy per confidence bin (bars) against the perfectly calibrated diagonal. */
export function reliabilityChart(bins: readonly { lower: number; upper: number; count: number; accuracy: number | null; confidence: number | null }[], ece: number): TopLevelSpec {
  const values = bins.filter((b) => b.count > 0).map((b) => ({ lower: b.lower, upper: b.upper, accuracy: b.accuracy, confidence: b.confidence, count: b.count }));
  const unit = { scale: { domain: [0, 1] } };
  return {
    title: `Reliability (ECE ${ece.toFixed(3)})`,
    ...SIZE,
    layer: [
      {
        data: { values },
        mark: { type: 'rect', opacity: 0.8, stroke: 'white' },
        encoding: {
          x: { field: 'lower', type: 'quantitative', title: 'confidence', ...unit },
          x2: { field: 'upper' },
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', ...unit },
          y2: { datum: 0 },
        },
      },
      {
        data: { values },
        mark: { type: 'point', filled: true, color: 'black', size: 20 },
        encoding: { x: { field: 'confidence', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', ...unit } },
      },
      {
        data: { values: [{ x: 0, y: 0 }, { x: 1, y: 1 }] },
        mark: { type: 'line', strokeDash: [4, 4], color: '#999' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
    ],
  };
}

/** Grouped bars: one group per `group`, one bar per `series` in it; the y axis spans 0..1 unless `unitDomain` is false. */
export function groupedBars(rows: readonly { group: string; series: string; value: number }[], o: { title: string; y: string; groups: readonly string[]; series: readonly string[]; unitDomain?: boolean }): TopLevelSpec {
  const scale = o.unitDomain === false ? {} : { scale: { domain: [0, 1] } };
  return {
    title: o.title,
    width: Math.max(240, 16 * rows.length),
    height: 240,
    data: { values: rows.map((r) => ({ ...r })) },
    mark: 'bar',
    encoding: {
      x: { field: 'group', type: 'nominal', title: null, sort: [...o.groups] },
      xOffset: { field: 'series', type: 'nominal', sort: [...o.series] },
      y: { field: 'value', type: 'quantitative', title: o.y, ...scale },
      color: { field: 'series', type: 'nominal', title: null, sort: [...o.series] },
    },
  };
}

/** Points (x, y), e.g. predicted against true values, with the y = x line over their range. */
export function scatterChart(points: readonly { x: number; y: number }[], o: { title: string; x: string; y: string }): TopLevelSpec {
  const values = thinIndices(points.length, MAX_SCATTER_POINTS).map((i) => ({ ...points[i]! }));
  const all = points.flatMap((p) => [p.x, p.y]);
  const lo = all.length === 0 ? 0 : all.reduce((a, b) => Math.min(a, b));
  const hi = all.length === 0 ? 1 : all.reduce((a, b) => Math.max(a, b));
  const axis = { type: 'quantitative' as const, scale: { domain: [lo, hi] } };
  return {
    title: o.title,
    ...SIZE,
    layer: [
      { data: { values: [{ x: lo, y: lo }, { x: hi, y: hi }] }, mark: { type: 'line', strokeDash: [4, 4], color: '#999' }, encoding: { x: { field: 'x', ...axis }, y: { field: 'y', ...axis } } },
      { data: { values }, mark: { type: 'circle', size: 12, opacity: 0.5 }, encoding: { x: { field: 'x', title: o.x, ...axis }, y: { field: 'y', title: o.y, ...axis } } },
    ],
  };
}

/** Histogram of values in bins of `step` (e.g. signed errors in 1-year bins). */
export function histogramChart(values: readonly number[], o: { title: string; x: string; step: number }): TopLevelSpec {
  return {
    title: o.title,
    ...SIZE,
    data: { values: values.map((v) => ({ v })) },
    mark: 'bar',
    encoding: {
      x: { field: 'v', type: 'quantitative', bin: { step: o.step }, title: o.x },
      y: { aggregate: 'count', type: 'quantitative', title: 'samples' },
    },
  };
}

/** Point estimates with interval bars, one row per item (e.g. accuracy differences). */
export function intervalChart(rows: readonly { name: string; estimate: number; lower: number; upper: number }[], o: { title: string; x: string }): TopLevelSpec {
  const values = rows.map((r) => ({ ...r }));
  const y = { field: 'name', type: 'nominal' as const, title: null, sort: rows.map((r) => r.name) };
  return {
    title: o.title,
    width: 300,
    height: Math.max(40, 28 * rows.length),
    layer: [
      { data: { values: [{ zero: 0 }] }, mark: { type: 'rule', color: '#999', strokeDash: [4, 4] }, encoding: { x: { field: 'zero', type: 'quantitative' } } },
      { data: { values }, mark: 'rule', encoding: { x: { field: 'lower', type: 'quantitative', title: o.x }, x2: { field: 'upper' }, y } },
      { data: { values }, mark: { type: 'point', filled: true, color: 'black' }, encoding: { x: { field: 'estimate', type: 'quantitative' }, y } },
    ],
  };
}

/**
 * Renders a Vega-Lite spec to an SVG string for inline use in HTML: the XML namespace
 * declarations are dropped (HTML's parser supplies them), so the page names no URL at all.
 */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const figures = ['vega', 'vega-lite'] as const;
  const { parse, View } = await importOptional<typeof import('vega')>('vega', figures);
  const { compile } = await importOptional<typeof import('vega-lite')>('vega-lite', figures);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.replace(/\s+xmlns(:\w+)?="[^"]*"/g, '');
  } finally {
    view.finalize();
  }
}

/** Renders figures one after another (each view is small; order is kept). */
export async function renderFigures(specs: readonly { title: string; spec: TopLevelSpec }[]): Promise<{ title: string; svg: string }[]> {
  const out: { title: string; svg: string }[] = [];
  for (const s of specs) out.push({ title: s.title, svg: await renderSvg(s.spec) });
  return out;
}
