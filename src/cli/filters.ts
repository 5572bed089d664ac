/**
 * `facesense filters`: first-layer filters of one or more models as image grids and, for models
 * whose first layers have the same shape, paper 000's cosine-similarity heat table.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OptionError } from '../core/errors.js';
import { renderSvg } from '../eval/charts.js';
import { esc, page, table } from '../eval/report-html.js';
import { toCsv } from '../eval/tables.js';
import { bestMatches, cosineMatrix, filterGrid, filterRows, grayEquivalent, greedyPairing, summarise, transpose, type SimilaritySummary } from '../interpret/filters.js';
import { similarityHeatmap } from '../interpret/figures.js';
import { readFirstConvWeight, type ConvWeight } from '../interpret/onnx-weights.js';
import { encodePng, pngDataUri } from '../interpret/png.js';
import { createModelStore } from '../node/models/store.js';

export const FILTERS_USAGE = `Usage: facesense filters --model ID|PATH [--model ID|PATH ...] --out DIR

Reads each model's first convolution straight from its ONNX file and draws its filters as an image
grid (each filter scaled to its own largest weight: 0 is mid-gray, positive lighter, negative
darker; 3-channel filters in colour). For every pair of models whose first layers have the same
shape (e.g. emotion-ferplus and emotion-fer2013; demographics-utkface and appearance-utkface) it
computes the cosine similarity of every filter of one with every filter of the other (paper 000's
comparison of networks trained for different tasks): the best match of each filter, the full heat
table, and the mean best match expected by chance for random filters of the same size. A gray
model and a colour model with the same kernel size are compared through the colour filters' sum
over their channels (how they act on a gray image).

Options:
  --model ID|PATH   a model (repeat for more)
  --out DIR         writes filters-<id>.png, similarity-<a>__<b>.{csv,svg}, best-match-<a>__<b>.csv,
                    filters.json and filters.html (one offline page)
  -h, --help        this text`;

interface ModelFilters {
  readonly id: string;
  readonly path: string;
  readonly weight: ConvWeight;
}

export interface PairReport {
  readonly a: string;
  readonly b: string;
  /** `weights`: as stored; `gray`: a colour model's filters summed over their input channels, to compare with a gray model's. */
  readonly compared: 'weights' | 'gray';
  readonly summary: SimilaritySummary;
  readonly bestAtoB: readonly { filter: number; match: number; cosine: number }[];
  readonly bestBtoA: readonly { filter: number; match: number; cosine: number }[];
  /** B's filters in the greedy one-to-one pairing order (the heat table's columns). */
  readonly pairing: readonly number[];
  readonly cosine: readonly (readonly number[])[];
}

const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** The comparison of two models' filters (same shape). */
export function comparePair(a: ModelFilters, b: ModelFilters): PairReport {
  const gray = a.weight.dims[1] !== b.weight.dims[1];
  const [wa, wb] = gray ? [grayEquivalent(a.weight), grayEquivalent(b.weight)] : [a.weight, b.weight];
  const m = cosineMatrix(filterRows(wa), filterRows(wb));
  const best = (mm: number[][]) => bestMatches(mm).map((x, i) => ({ filter: i, match: x.index, cosine: r4(x.cosine) }));
  const dim = wa.dims.slice(1).reduce((x, y) => x * y, 1);
  return { a: a.id, b: b.id, compared: gray ? 'gray' : 'weights', summary: summarise(m, dim), bestAtoB: best(m), bestBtoA: best(transpose(m)), pairing: greedyPairing(m), cosine: m.map((row) => row.map(r4)) };
}

/** Same kernel size, and the same input channels or one gray model (compared through grayEquivalent). */
const comparable = (a: ConvWeight, b: ConvWeight) => a.dims.slice(2).join('x') === b.dims.slice(2).join('x') && (a.dims[1] === b.dims[1] || a.dims[1] === 1 || b.dims[1] === 1);
const fmt = (v: number) => v.toFixed(3);

export function pairLine(p: PairReport): string {
  const s = p.summary;
  return `${p.a} vs ${p.b}${p.compared === 'gray' ? ' (colour filters summed over channels)' : ''}: mean best-match cosine ${fmt(s.meanBestAtoB)} (${p.a}→${p.b}), ${fmt(s.meanBestBtoA)} (${p.b}→${p.a}); one-to-one pairing ${fmt(s.meanPaired)}; all pairs ${fmt(s.meanAll)}; chance (random filters) ${fmt(s.chanceMeanBest)}`;
}

export async function runFilters(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { model: { type: 'string', multiple: true }, out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    process.stdout.write(`${FILTERS_USAGE}\n`);
    return 0;
  }
  const ids = values.model ?? [];
  if (ids.length === 0 || values.out === undefined) throw new OptionError('--model (at least one) and --out are required');
  const out = values.out;
  const store = createModelStore();
  const models: ModelFilters[] = [];
  for (const id of ids) {
    const resolved = await store.resolveModel(id);
    models.push({ id: resolved.manifest.id, path: resolved.modelPath, weight: await readFirstConvWeight(resolved.modelPath) });
  }
  const dup = models.find((m, i) => models.findIndex((x) => x.id === m.id) !== i);
  if (dup !== undefined) throw new OptionError(`--model ${dup.id} is given twice`);

  const pairs: PairReport[] = [];
  const skipped: string[] = [];
  for (let i = 0; i < models.length; i++) {
    for (let j = i + 1; j < models.length; j++) {
      const [a, b] = [models[i]!, models[j]!];
      if (comparable(a.weight, b.weight)) pairs.push(comparePair(a, b));
      else skipped.push(`${a.id} [${a.weight.dims.join('×')}] vs ${b.id} [${b.weight.dims.join('×')}]: kernels of different sizes or input channels cannot be compared`);
    }
  }
  for (const m of models) process.stdout.write(`${m.id}: first conv "${m.weight.node}" weight "${m.weight.name}" ${m.weight.dims.join('×')}\n`);
  for (const p of pairs) process.stdout.write(`${pairLine(p)}\n`);
  for (const s of skipped) process.stderr.write(`facesense filters: ${s}\n`);

  await mkdir(out, { recursive: true });
  const grids = new Map<string, Buffer>();
  for (const m of models) {
    const png = await encodePng(filterGrid(m.weight));
    grids.set(m.id, png);
    await writeFile(join(out, `filters-${m.id}.png`), png);
  }
  const figures: { title: string; svg: string }[] = [];
  for (const p of pairs) {
    const stem = `${p.a}__${p.b}`;
    const header = ['filter', ...p.cosine[0]!.map((_, j) => `${p.b}_${j}`)];
    await writeFile(join(out, `similarity-${stem}.csv`), toCsv(header, p.cosine.map((row, i) => [i, ...row])));
    await writeFile(join(out, `best-match-${stem}.csv`), toCsv(['model', 'filter', 'best_match_in', 'best_match', 'cosine'], [...p.bestAtoB.map((x) => [p.a, x.filter, p.b, x.match, x.cosine]), ...p.bestBtoA.map((x) => [p.b, x.filter, p.a, x.match, x.cosine])]));
    const title = `${p.a} vs ${p.b}: cosine of first-layer filters`;
    const svg = await renderSvg(similarityHeatmap(p.cosine, { title, a: p.a, b: p.b, columnOrder: p.pairing }));
    await writeFile(join(out, `similarity-${stem}.svg`), svg.replace('<svg', '<svg xmlns="http://www.w3.org/2000/svg"'));
    figures.push({ title, svg });
  }
  const json = {
    models: models.map((m) => ({ id: m.id, path: m.path, node: m.weight.node, weight: m.weight.name, dims: m.weight.dims, filterNorms: filterRows(m.weight).map((r) => r4(Math.hypot(...r))) })),
    pairs,
    skippedPairs: skipped,
  };
  await writeFile(join(out, 'filters.json'), `${JSON.stringify(json, null, 2)}\n`);
  await writeFile(join(out, 'filters.html'), filtersHtml(models, grids, pairs, figures, skipped));
  return 0;
}

function filtersHtml(models: readonly ModelFilters[], grids: ReadonlyMap<string, Buffer>, pairs: readonly PairReport[], figures: readonly { title: string; svg: string }[], skipped: readonly string[]): string {
  const gridHtml = models
    .map((m) => `<figure><figcaption>${esc(m.id)} — ${esc(m.weight.dims.join('×'))}</figcaption><img alt="${esc(m.id)} filters" src="${pngDataUri(grids.get(m.id)!)}" style="image-rendering:pixelated;width:${Math.min(480, 2 * (m.weight.dims[0] ?? 1) * 8)}px"></figure>`)
    .join('');
  const summary = table(
    ['A', 'B', 'mean best A→B', 'mean best B→A', 'one-to-one', 'all pairs', 'chance'],
    pairs.map((p) => [esc(p.a), esc(p.b) + (p.compared === 'gray' ? ' (channels summed)' : ''), fmt(p.summary.meanBestAtoB), fmt(p.summary.meanBestBtoA), fmt(p.summary.meanPaired), fmt(p.summary.meanAll), fmt(p.summary.chanceMeanBest)]),
  );
  const body = [
    '<h2>First-layer filters</h2>',
    '<p class="note">Each tile is one filter, scaled to its own largest |weight|: mid-gray is 0, lighter positive, darker negative.</p>',
    `<div class="figs">${gridHtml}</div>`,
    ...(pairs.length === 0 ? [] : [
      '<h2>Similarity between models (paper 000)</h2>',
      '<p class="note">Cosine similarity of flattened filters. "Mean best" averages, over one model\'s filters, the highest cosine with any filter of the other; "chance" is the same for Gaussian random filters of the same count and size. Heat-table columns follow a greedy one-to-one pairing so that matching filters lie on the diagonal.</p>',
      summary,
      `<div class="figs">${figures.map((f) => `<figure><figcaption>${esc(f.title)}</figcaption>${f.svg}</figure>`).join('')}</div>`,
    ]),
    ...(skipped.length === 0 ? [] : [`<h2>Not compared</h2><ul>${skipped.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>`]),
  ];
  return page('First-layer filters', body.join('\n'));
}
