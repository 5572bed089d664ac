/**
 * `facesense embed`: a model's embedding (its trunk features, the manifest's `embedding` output)
 * for every sample of a dataset split, written as .npy + CSV, and drawn as 2-D projections
 * coloured by label: PCA (linear; its explained variance says how much a plane keeps) and UMAP
 * (non-linear; keeps neighbourhoods, not distances). Paper 001 uses the pooled embedding as a
 * face's feature vector.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Analyzer, type DetectorName, type ImageResult } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { createLoader, isLayoutName, LAYOUTS } from '../data/loaders/index.js';
import type { LayoutName, Sample, SampleImage, TargetSpec } from '../data/types.js';
import { FacesenseError, ModelError, OptionError } from '../core/errors.js';
import { renderSvg } from '../eval/charts.js';
import { esc, page, table } from '../eval/report-html.js';
import { toCsv } from '../eval/tables.js';
import { writeNpy } from '../io/npy.js';
import { labelledScatter } from '../interpret/figures.js';
import { fitPca, projectPca } from '../interpret/pca.js';
import { DEFAULT_UMAP, umap2d } from '../interpret/umap.js';
import { createModelStore } from '../node/models/store.js';
import type { ImageInput } from '../core/types.js';
import { positiveInt } from './options.js';
import { createProgress } from './progress.js';

const PROJECTIONS = ['pca', 'umap'] as const;
type Projection = (typeof PROJECTIONS)[number];
/** Samples analysed concurrently. */
const BATCH = 32;
/** Label of samples without one for the target. */
const UNLABELLED = '(unlabelled)';

export const EMBED_USAGE = `Usage: facesense embed --model ID|PATH --dataset LAYOUT --root DIR --split NAME --out DIR [options]

Runs the model over a dataset split through the analyzer and keeps each face's embedding (the
output its manifest declares as "embedding": the features the heads read). Writes:
  embeddings.npy   float32 N × D, row i = samples.csv row i
  samples.csv      index, id, file, label, predicted label, and the 2-D coordinates
  projection.json  PCA explained variance (every component), UMAP settings, skipped files, and
                   how many samples the dataset's protocol leaves out (FER+ "unknown" votes)
  pca.svg, umap.svg, embed.html (one offline page): the projections coloured by label

Options:
  --model ID|PATH     model with an embedding output (emotion-ferplus, attributes-utkface, ...)
  --dataset LAYOUT    ${LAYOUTS.join(' | ')}
  --root DIR          dataset root
  --split NAME        split to embed (e.g. test), or all
  --target NAME       label to colour by (default: the dataset's first class target)
  --limit N           at most N samples (the split's first N)
  --detector NAME     none (default: inputs are face crops) | yunet | yunet-640 | viola-jones;
                      with a detector the biggest face of each image is embedded
  --projection LIST   pca,umap (default) | pca | umap | none
  --neighbors N       UMAP neighbours (default ${DEFAULT_UMAP.neighbors})
  --min-dist X        UMAP minimum distance, 0..1 (default ${DEFAULT_UMAP.minDist})
  --seed N            UMAP seed (default ${DEFAULT_UMAP.seed})
  --threads N         ONNX Runtime threads (default: one per core)
  --out DIR           output folder
  -h, --help          this text`;

interface Row {
  readonly id: string;
  readonly file: string;
  readonly label: string;
  readonly predicted: string;
  readonly embedding: Float32Array;
}

function toInput(img: SampleImage): ImageInput {
  return img.kind === 'file' ? img.path : img.kind === 'encoded' ? img.bytes : img.pixels;
}

function sampleName(s: Sample): string {
  if (s.image.kind === 'file') return s.image.path;
  return s.file === undefined ? s.id : `${s.file}${s.line === undefined ? '' : `:${s.line}`}`;
}

/** The biggest classified face's embedding and its top label, or why there is none. */
export function biggestFace(r: ImageResult, modelId: string): { embedding: Float32Array; predicted: string } | string {
  const faces = r.faces.filter((f) => f.skipped === undefined);
  const face = [...faces].sort((a, b) => b.boxPx.width * b.boxPx.height - a.boxPx.width * a.boxPx.height)[0];
  if (face === undefined) return r.faces.length === 0 ? 'no face detected' : 'face too small';
  const embedding = face.embeddings?.[modelId];
  if (embedding === undefined) return `no ${modelId} embedding`;
  const top = Object.values(face.attributes).find((a) => a.kind === 'class');
  return { embedding: Float32Array.from(embedding), predicted: top?.kind === 'class' ? top.label : '' };
}

export function parseProjections(value: string): Projection[] {
  if (value.trim() === 'none') return [];
  const list = value.split(',').map((s) => s.trim());
  const bad = list.filter((p) => !(PROJECTIONS as readonly string[]).includes(p));
  if (bad.length > 0 || list.length === 0) throw new OptionError(`--projection: unknown ${bad.join(', ')}; use pca, umap, both (pca,umap) or none`);
  return [...new Set(list as Projection[])];
}

function labelOf(s: Sample, target: TargetSpec): string {
  const v = s.labels[target.name];
  return typeof v === 'number' && target.classes?.[v] !== undefined ? target.classes[v] : UNLABELLED;
}

async function collect(analyzer: Analyzer, modelId: string, samples: AsyncIterable<Sample>, o: { split: string; limit: number; target: TargetSpec }): Promise<{ rows: Row[]; skipped: { file: string; reason: string }[] }> {
  const rows: Row[] = [];
  const skipped: { file: string; reason: string }[] = [];
  const progress = createProgress('embed', Number.isFinite(o.limit) ? o.limit : undefined);
  let batch: Sample[] = [];
  const flush = async () => {
    const results = await Promise.all(
      batch.map((s) =>
        analyzer.analyze(toInput(s.image), { sourceName: sampleName(s) }).then(
          (r) => biggestFace(r, modelId),
          (e: unknown) => {
            if (e instanceof FacesenseError) return `${e.code}: ${e.message}`;
            throw e;
          },
        ),
      ),
    );
    batch.forEach((s, i) => {
      const r = results[i]!;
      if (typeof r === 'string') skipped.push({ file: sampleName(s), reason: r });
      else rows.push({ id: s.id, file: sampleName(s), label: labelOf(s, o.target), predicted: r.predicted, embedding: r.embedding });
    });
    progress.tick(batch.length);
    batch = [];
  };
  let seen = 0;
  try {
    for await (const s of samples) {
      if (o.split !== 'all' && s.split !== o.split) continue;
      if (seen++ >= o.limit) break;
      batch.push(s);
      if (batch.length >= BATCH) await flush();
    }
    if (batch.length > 0) await flush();
  } finally {
    progress.done();
  }
  return { rows, skipped };
}

const r6 = (v: number) => Math.round(v * 1e6) / 1e6;
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

export async function runEmbed(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      dataset: { type: 'string' },
      root: { type: 'string' },
      split: { type: 'string' },
      target: { type: 'string' },
      limit: { type: 'string' },
      detector: { type: 'string', default: 'none' },
      projection: { type: 'string', default: 'pca,umap' },
      neighbors: { type: 'string' },
      'min-dist': { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${EMBED_USAGE}\n`);
    return 0;
  }
  const { model, dataset, root, split, out } = values;
  if (model === undefined || dataset === undefined || root === undefined || split === undefined || out === undefined) throw new OptionError('--model, --dataset, --root, --split and --out are required');
  if (!isLayoutName(dataset)) throw new OptionError(`--dataset must be one of ${LAYOUTS.join(', ')}`);
  const projections = parseProjections(values.projection);
  const limit = positiveInt('limit', values.limit, Infinity);
  const neighbors = positiveInt('neighbors', values.neighbors, DEFAULT_UMAP.neighbors);
  if (values.seed !== undefined && !/^\d+$/.test(values.seed)) throw new OptionError(`--seed must be a whole number ≥ 0, got ${JSON.stringify(values.seed)}`);
  const seed = values.seed === undefined ? DEFAULT_UMAP.seed : Number.parseInt(values.seed, 10);
  const minDist = values['min-dist'] === undefined ? DEFAULT_UMAP.minDist : Number(values['min-dist']);
  if (!(minDist >= 0 && minDist <= 1)) throw new OptionError(`--min-dist must be a number in 0..1, got ${JSON.stringify(values['min-dist'])}`);
  const threads = values.threads === undefined ? undefined : positiveInt('threads', values.threads, 1);

  const { manifest } = await createModelStore().resolveModel(model);
  if (manifest.embedding === undefined) {
    throw new ModelError('MODEL_INVALID', `model ${manifest.id} has no embedding output (its manifest has no "embedding"); use a model exported with one, e.g. emotion-ferplus`, { source: model });
  }
  const loader = await createLoader(dataset as LayoutName, { root });
  const target = loader.targets.find((t) => (values.target === undefined ? t.kind === 'class' : t.name === values.target));
  if (target === undefined || target.classes === undefined) {
    throw new OptionError(`dataset ${dataset} has no class target${values.target === undefined ? '' : ` named "${values.target}"`} to colour by; targets: ${loader.targets.map((t) => `${t.name} (${t.kind})`).join(', ')}`);
  }
  const analyzer = await createAnalyzer({ models: [model], tasks: manifest.outputs.map((o) => o.task), detector: values.detector as DetectorName, embeddings: true, ...(threads === undefined ? {} : { threads }) });
  let collected: Awaited<ReturnType<typeof collect>>;
  try {
    collected = await collect(analyzer, manifest.id, loader.samples(), { split, limit, target });
  } finally {
    await analyzer.dispose();
  }
  const { rows, skipped } = collected;
  // Malformed data is listed; samples the dataset's protocol leaves out (FER+ "unknown") only counted.
  const problems = loader.problems.filter((p) => p.kind === 'error').map((p) => ({ file: `${p.file}${p.line === undefined ? '' : `:${p.line}`}`, reason: p.reason }));
  const excluded = loader.problems.filter((p) => p.kind === 'excluded').length;
  if (rows.length === 0) throw new OptionError(`no sample of split "${split}" in ${root} could be embedded${skipped.length === 0 ? '' : ` (${skipped.length} skipped, first: ${skipped[0]!.file}: ${skipped[0]!.reason})`}`);
  const d = manifest.embedding.size;
  const vectors = rows.map((r) => r.embedding);
  const wrong = vectors.findIndex((v) => v.length !== d);
  if (wrong >= 0) throw new ModelError('MODEL_INVALID', `embedding of ${rows[wrong]!.file} has ${vectors[wrong]!.length} numbers, the manifest says ${d}`, { source: model });

  const needs = (p: Projection) => projections.includes(p) && (p === 'pca' ? rows.length >= 2 : rows.length >= 3);
  const pca = needs('pca') ? fitPca(vectors, d) : undefined;
  const pcaXY = pca === undefined ? undefined : projectPca(pca, vectors, 2);
  const umapXY = needs('umap') ? umap2d(vectors, { neighbors, minDist, seed }) : undefined;

  await mkdir(out, { recursive: true });
  const flat = new Float32Array(rows.length * d);
  vectors.forEach((v, i) => flat.set(v, i * d));
  await writeNpy(join(out, 'embeddings.npy'), { dtype: 'float32', shape: [rows.length, d], data: flat });
  const header = ['index', 'id', 'file', 'label', 'predicted', ...(pcaXY ? ['pca_1', 'pca_2'] : []), ...(umapXY ? ['umap_1', 'umap_2'] : [])];
  const csvRows = rows.map((r, i) => [i, r.id, r.file, r.label, r.predicted, ...(pcaXY ? [r6(pcaXY[i]![0]!), r6(pcaXY[i]![1]!)] : []), ...(umapXY ? [r6(umapXY[i]![0]!), r6(umapXY[i]![1]!)] : [])]);
  await writeFile(join(out, 'samples.csv'), toCsv(header, csvRows));
  const labels = [...target.classes.filter((c) => rows.some((r) => r.label === c)), ...(rows.some((r) => r.label === UNLABELLED) ? [UNLABELLED] : [])];
  const counts = Object.fromEntries(labels.map((l) => [l, rows.filter((r) => r.label === l).length]));
  const info = {
    model: manifest.id,
    embedding: manifest.embedding,
    dataset: { layout: dataset, root, split, target: target.name, ...(Number.isFinite(limit) ? { limit } : {}) },
    detector: values.detector,
    samples: rows.length,
    labels: counts,
    ...(pca === undefined ? {} : { pca: { explainedRatio: Array.from(pca.explainedRatio, r6), variances: Array.from(pca.variances, r6), componentsFor90Percent: componentsFor(pca.explainedRatio, 0.9) } }),
    ...(umapXY === undefined ? {} : { umap: { neighbors: Math.min(neighbors, rows.length - 1), minDist, seed } }),
    skipped: [...problems, ...skipped],
    excludedByProtocol: excluded,
  };
  await writeFile(join(out, 'projection.json'), `${JSON.stringify(info, null, 2)}\n`);

  const figures: { file: string; title: string; svg: string }[] = [];
  const points = (xy: readonly ArrayLike<number>[]) => rows.map((r, i) => ({ x: xy[i]![0]!, y: xy[i]![1]!, label: r.label }));
  if (pca !== undefined && pcaXY !== undefined) {
    const [e1 = 0, e2 = 0] = pca.explainedRatio;
    const title = `PCA of ${manifest.id} embeddings (PC1 ${pct(e1)}, PC2 ${pct(e2)} of variance)`;
    figures.push({ file: 'pca.svg', title, svg: await renderSvg(labelledScatter(points(pcaXY), { title, x: `PC1 (${pct(e1)})`, y: `PC2 (${pct(e2)})`, labels })) });
  }
  if (umapXY !== undefined) {
    const title = `UMAP of ${manifest.id} embeddings (${Math.min(neighbors, rows.length - 1)} neighbours, min dist ${minDist})`;
    figures.push({ file: 'umap.svg', title, svg: await renderSvg(labelledScatter(points(umapXY), { title, x: 'UMAP 1', y: 'UMAP 2', labels })) });
  }
  for (const f of figures) await writeFile(join(out, f.file), f.svg.replace('<svg', '<svg xmlns="http://www.w3.org/2000/svg"'));
  await writeFile(join(out, 'embed.html'), embedHtml(info, figures, pca?.explainedRatio));

  process.stdout.write(`embedded ${rows.length} samples (${d} numbers each) with ${manifest.id}; ${info.skipped.length} skipped${excluded === 0 ? '' : `, ${excluded} left out by the dataset's protocol (all splits listed so far)`}\n`);
  if (pca !== undefined) process.stdout.write(`PCA explained variance: ${Array.from(pca.explainedRatio.slice(0, 5), pct).join(', ')} (first 5); ${info.pca?.componentsFor90Percent} components for 90%\n`);
  return 0;
}

/** How many leading components explain at least `share` of the variance. */
export function componentsFor(ratios: ArrayLike<number>, share: number): number {
  let s = 0;
  for (let i = 0; i < ratios.length; i++) {
    s += ratios[i]!;
    if (s >= share - 1e-12) return i + 1;
  }
  return ratios.length;
}

function embedHtml(info: { model: string; samples: number; labels: Record<string, number>; dataset: { layout: string; split: string }; skipped: readonly unknown[] }, figs: readonly { title: string; svg: string }[], ratios: Float64Array | undefined): string {
  const cum = (k: number) => (ratios === undefined ? 0 : Array.from(ratios.slice(0, k)).reduce((a, b) => a + b, 0));
  const body = [
    `<p>${info.samples} samples of ${esc(info.dataset.layout)} / ${esc(info.dataset.split)} (${info.skipped.length} skipped), embedded by ${esc(info.model)}.</p>`,
    table(['label', 'samples'], Object.entries(info.labels).map(([l, n]) => [esc(l), String(n)])),
    `<div class="figs">${figs.map((f) => `<figure><figcaption>${esc(f.title)}</figcaption>${f.svg}</figure>`).join('')}</div>`,
    ...(ratios === undefined ? [] : [
      '<h2>PCA explained variance</h2>',
      table(['component', 'share', 'cumulative'], Array.from(ratios.slice(0, 10), (r, i) => [String(i + 1), pct(r), pct(cum(i + 1))])),
    ]),
    '<p class="note">PCA is linear: its axes are the directions of largest variance, and the shares say how much of the embedding a plane keeps. UMAP keeps each point\'s neighbours, not distances: clusters that separate there are separable by the features, but gaps and cluster sizes mean little.</p>',
  ];
  return page(`Embeddings of ${info.model}`, body.join('\n'));
}
