/**
 * Vega-Lite specs of the interpretation figures (pure data → spec; rendered to SVG by
 * eval/charts.ts `renderSvg`): the filter-similarity heat table, a projection scatter coloured by
 * label, and a sweep's metric over a two-key grid.
 */
import type { TopLevelSpec } from 'vega-lite';
import { thinIndices } from '../eval/charts.js';

/**
 * Cosine similarity between two models' filters: rows A's filters in their order, columns B's in
 * `columnOrder` (e.g. the greedy pairing, so matches fall on the diagonal), −1 blue … +1 red.
 */
export function similarityHeatmap(m: readonly (readonly number[])[], o: { title: string; a: string; b: string; columnOrder?: readonly number[] }): TopLevelSpec {
  const cols = o.columnOrder ?? (m[0] ?? []).map((_, j) => j);
  const values = m.flatMap((row, i) => cols.map((j, k) => ({ a: String(i), b: String(j), pos: k, cosine: Math.round(row[j]! * 1e4) / 1e4 })));
  const cell = Math.max(6, Math.min(24, Math.floor(480 / Math.max(1, cols.length, m.length))));
  return {
    title: o.title,
    width: cell * cols.length,
    height: cell * m.length,
    data: { values },
    mark: 'rect',
    encoding: {
      x: { field: 'b', type: 'ordinal', sort: cols.map(String), title: `${o.b} filter`, axis: { labelFontSize: 8, labelAngle: 0 } },
      y: { field: 'a', type: 'ordinal', sort: m.map((_, i) => String(i)), title: `${o.a} filter`, axis: { labelFontSize: 8 } },
      color: { field: 'cosine', type: 'quantitative', scale: { scheme: 'redblue', domain: [-1, 1], reverse: true }, title: 'cosine' },
    },
  };
}

/** Points of a 2-D projection, coloured by label (legend in `labels` order). */
export function labelledScatter(points: readonly { x: number; y: number; label: string }[], o: { title: string; x: string; y: string; labels: readonly string[]; maxPoints?: number }): TopLevelSpec {
  const values = thinIndices(points.length, o.maxPoints ?? 5000).map((i) => ({ ...points[i]! }));
  return {
    title: o.title,
    width: 420,
    height: 420,
    data: { values },
    mark: { type: 'circle', size: 10, opacity: 0.6 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.x, scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: o.y, scale: { zero: false } },
      color: { field: 'label', type: 'nominal', title: 'label', sort: [...o.labels], scale: { scheme: o.labels.length <= 10 ? 'category10' : 'category20' } },
    },
  };
}

/** A metric over a grid of two keys: one cell per (x, y) value, labelled with the value; missing cells say why. */
export function gridHeatmap(
  cells: readonly { x: string; y: string; value: number | null; note: string }[],
  o: { title: string; x: string; y: string; metric: string; xOrder: readonly string[]; yOrder: readonly string[]; format?: string },
): TopLevelSpec {
  const values = cells.map((c) => ({ ...c, text: c.value === null ? c.note : c.value }));
  const cell = 56;
  const fmt = o.format ?? '.3f';
  const known = cells.map((c) => c.value).filter((v): v is number => v !== null);
  const mid = known.length === 0 ? 0 : (Math.min(...known) + Math.max(...known)) / 2;
  return {
    title: o.title,
    width: cell * o.xOrder.length,
    height: (cell * o.yOrder.length) / 1.6,
    data: { values },
    encoding: {
      x: { field: 'x', type: 'ordinal', sort: [...o.xOrder], title: o.x, axis: { labelAngle: 0 } },
      y: { field: 'y', type: 'ordinal', sort: [...o.yOrder], title: o.y },
    },
    layer: [
      { mark: { type: 'rect', color: '#ddd' }, transform: [{ filter: 'datum.value === null' }] },
      { mark: 'rect', transform: [{ filter: 'datum.value !== null' }], encoding: { color: { field: 'value', type: 'quantitative', scale: { scheme: 'viridis' }, title: o.metric } } },
      {
        mark: { type: 'text', fontSize: 11 },
        transform: [{ filter: 'datum.value !== null' }],
        encoding: { text: { field: 'value', type: 'quantitative', format: fmt }, color: { condition: { test: `datum.value < ${mid}`, value: 'white' }, value: 'black' } },
      },
      { mark: { type: 'text', fontSize: 10, color: '#555' }, transform: [{ filter: 'datum.value === null' }], encoding: { text: { field: 'note', type: 'nominal' } } },
    ],
  };
}
