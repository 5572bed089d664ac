/**
 * Evaluation job: a model on a labelled dataset split → an eval report (metrics, fairness,
 * per-sample predictions) and its gallery of most confident mistakes; `writeEvalReport` writes
 * report.json, the CSV tables and report.html. The CLI's `eval` parses options and prints the
 * summary; anything else (a service, a worker) calls `runEvaluation` with plain options.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Analyzer, DetectorName, ImageResult } from '../core/analyzer.js';
import { FacesenseError, OptionError } from '../core/errors.js';
import type { TaskResult } from '../core/postprocess.js';
import type { ImageInput } from '../core/types.js';
import { createLoader } from '../data/loaders/index.js';
import type { FerplusProtocol } from '../data/loaders/ferplus-folders.js';
import { applyPerturbation, perturbationName, type Perturbation } from '../eval/perturb.js';
import { APPEARANCE_CLASSES } from '../data/loaders/utkface.js';
import type { DatasetLoader, LayoutName, Sample, SampleImage, TargetSpec } from '../data/types.js';
import { ageMetrics } from '../eval/age.js';
import { renderFigures } from '../eval/charts.js';
import {
  AGE_GROUP_METRICS,
  ageMeasure,
  CLASS_GROUP_METRICS,
  classMeasure,
  fairnessBreakdown,
  GROUP_ATTRIBUTES,
  groupLabels,
  pickAttributes,
  type FairnessReport,
  type GroupAttribute,
  type Measure,
} from '../eval/fairness.js';
import { mostConfident, thumbnail, type Mistake } from '../eval/gallery.js';
import { buildLabelMap, mapScores } from '../eval/label-map.js';
import { argmax } from '../eval/metrics.js';
import { evalFigureSpecs, evalReportHtml } from '../eval/report-html.js';
import { computeMetrics, type AgeEvalReport, type AnyEvalReport, type EvalRecord, type EvalReport } from '../eval/report.js';
import { signed } from '../eval/summary.js';
import { reportTables } from '../eval/tables.js';
import type { TrainingLogRow } from '../eval/training-log.js';
import { checkOutputTarget } from '../io/outputs.js';
import { createAnalyzer } from '../node/analyzer.js';
import { createModelStore } from '../node/models/store.js';

/** `--split all`: every sample, whatever split the loader gives it (cross-dataset measurement). */
export const ALL_SPLITS = 'all';

/** Thumbnails in the mistakes gallery. */
const GALLERY_SIZE = 24;

export interface EvalOptions {
  readonly model: string;
  readonly dataset: LayoutName;
  readonly root: string;
  readonly split: string;
  readonly target: string | undefined;
  readonly appearance: string | undefined;
  readonly splitFile: string | undefined;
  /** undefined: the default attributes. */
  readonly groups: readonly string[] | undefined;
  readonly minGroupSize: number;
  readonly detector: string;
  readonly tta: boolean;
  readonly limit: number;
  readonly batchSize: number;
  readonly threads: number | undefined;
  readonly trainingLog: { readonly file: string; readonly rows: readonly TrainingLogRow[] } | undefined;
  readonly out: string | undefined;
  /** FER+ label protocol (src/data/loaders/ferplus-folders.ts); undefined: the loader's default (plurality). */
  readonly protocol?: FerplusProtocol | undefined;
  /** Robustness check: every image degraded this way before the analyzer (src/eval/perturb.ts). */
  readonly perturb?: Perturbation | undefined;
}

interface Context {
  readonly o: EvalOptions;
  readonly hooks: EvalHooks;
  readonly analyzer: Analyzer;
  readonly loader: DatasetLoader;
  readonly attributes: readonly GroupAttribute[];
}

type Task = Analyzer['tasks'][number];
type Skip = { readonly file: string; readonly reason: string };

/** A sample's truth, or why it is left out before inference. */
type Verdict<T> = { readonly truth: T } | { readonly skip: string };

/** A sample that went through the model. */
interface Evaluated<T> {
  readonly sample: Sample;
  readonly file: string;
  readonly truth: T;
  readonly result: TaskResult;
  readonly groups: Readonly<Record<string, string>>;
}

/** A gallery candidate: a mistake (class) or an error (age), ranked by `confidence`. */
interface GalleryPick extends Mistake {
  readonly image: SampleImage;
  readonly file: string;
  readonly truth: string;
  readonly predicted: string;
  readonly detail: string;
}

export interface EvalOutcome {
  readonly report: AnyEvalReport;
  readonly gallery: readonly GalleryPick[];
}

function toInput(img: SampleImage): ImageInput {
  return img.kind === 'file' ? img.path : img.kind === 'encoded' ? img.bytes : img.pixels;
}

/** What names a sample in reports: its image file, else its label row, else its id. */
function sampleName(s: Sample): string {
  if (s.image.kind === 'file') return s.image.path;
  return s.file === undefined ? s.id : `${s.file}${s.line === undefined ? '' : `:${s.line}`}`;
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;

/** The task's result on the biggest face of an image, or why there is none. */
function biggestFaceResult(r: ImageResult, task: string): TaskResult | string {
  const biggest = [...r.faces].sort((a, b) => b.boxPx.width * b.boxPx.height - a.boxPx.width * a.boxPx.height)[0];
  if (biggest === undefined) return 'no face detected';
  if (biggest.skipped !== undefined) return `${biggest.skipped.code}: ${biggest.skipped.message}`;
  return biggest.attributes[task] ?? `no ${task} result`;
}

/** The task's result for each sample (its biggest face, with a detector), or why there is none. */
async function inferBatch(analyzer: Analyzer, detector: string, task: string, samples: readonly Sample[], perturb: Perturbation | undefined): Promise<(TaskResult | string)[]> {
  const reason = (e: unknown): string => {
    if (e instanceof FacesenseError) return `${e.code}: ${e.message}`;
    throw e;
  };
  if (perturb !== undefined) {
    // Degrade first; a file that cannot be degraded is skipped like one that cannot be decoded.
    const inputs = await Promise.all(samples.map((s) => applyPerturbation(toInput(s.image), perturb).then((bytes) => bytes, reason)));
    const ok = samples.flatMap((s, i) => (typeof inputs[i] === 'string' ? [] : [{ ...s, image: { kind: 'encoded' as const, bytes: inputs[i] as Uint8Array } }]));
    const results = await inferBatch(analyzer, detector, task, ok, undefined);
    let next = 0;
    return inputs.map((v) => (typeof v === 'string' ? v : results[next++]!));
  }
  const batch = samples;
  const pick = (a: Readonly<Record<string, TaskResult>> | undefined) => a?.[task] ?? `no ${task} result`;
  if (detector === 'none') {
    try {
      return (await analyzer.classifyCrops(batch.map((s) => toInput(s.image)))).map(pick);
    } catch (e) {
      if (!(e instanceof FacesenseError) || e instanceof OptionError) throw e;
      // One bad file fails the batch: redo it one by one so only that file is skipped.
      return Promise.all(batch.map((s) => analyzer.classifyCrops([toInput(s.image)]).then((a) => pick(a[0]), reason)));
    }
  }
  return Promise.all(batch.map((s) => analyzer.analyze(toInput(s.image), { sourceName: sampleName(s) }).then((r) => biggestFaceResult(r, task), reason)));
}

interface SplitRun {
  /** Samples with a label for the target (what `--limit` counts). */
  readonly seen: number;
  /** Samples of the split without one (e.g. faces nobody labelled for glasses): not in this target's test set. */
  readonly unlabelled: number;
  readonly skipped: Skip[];
  readonly seconds: number;
}

/**
 * Streams the split's samples that have a `target` label through the model in batches. `judge`
 * gives each one's truth or why it is skipped; `use` receives each batch's evaluated samples.
 * Every labelled sample read is either evaluated or listed in `skipped`, after the loader's own
 * problems.
 */
async function evaluateSplit<T>(ctx: Context, target: string, task: string, judge: (s: Sample) => Verdict<T>, use: (batch: readonly Evaluated<T>[]) => void): Promise<SplitRun> {
  const { o } = ctx;
  const skipped: Skip[] = [];
  const started = performance.now();
  let batch: { sample: Sample; file: string; truth: T }[] = [];
  let done_ = 0;
  const flush = async () => {
    const results = await inferBatch(ctx.analyzer, o.detector, task, batch.map((b) => b.sample), o.perturb);
    const done: Evaluated<T>[] = [];
    batch.forEach((b, i) => {
      const r = results[i]!;
      if (typeof r === 'string') skipped.push({ file: b.file, reason: r });
      else done.push({ ...b, result: r, groups: groupLabels(b.sample, ctx.attributes) });
    });
    use(done);
    done_ += batch.length;
    ctx.hooks.onProgress?.({ samples: done_ });
    batch = [];
  };
  let seen = 0;
  let unlabelled = 0;
  const splits = new Set<string>();
  {
    for await (const s of ctx.loader.samples()) {
      ctx.hooks.signal?.throwIfAborted();
      splits.add(s.split);
      if (o.split !== ALL_SPLITS && s.split !== o.split) continue;
      if (s.labels[target] === undefined) {
        unlabelled++;
        continue;
      }
      if (seen >= o.limit) break;
      seen++;
      const file = sampleName(s);
      const v = judge(s);
      if ('skip' in v) {
        skipped.push({ file, reason: v.skip });
        continue;
      }
      batch.push({ sample: s, file, truth: v.truth });
      if (batch.length >= o.batchSize) await flush();
    }
    if (batch.length > 0) await flush();
  }
  if (seen === 0 && unlabelled === 0 && o.split !== ALL_SPLITS && !splits.has(o.split)) {
    const names = [...splits].sort();
    throw new OptionError(`${o.dataset} in ${o.root} has no split "${o.split}"; ${names.length === 0 ? 'it has no samples at all' : `its splits are: ${names.join(', ')} (or --split ${ALL_SPLITS})`}`);
  }
  if (seen === 0) throw new OptionError(unlabelled === 0 ? `split "${o.split}" has no samples in ${o.root}` : `none of the ${unlabelled} samples of split "${o.split}" has a ${target} label`);
  const problems = ctx.loader.problems.map((p) => ({ file: `${p.file}${p.line === undefined ? '' : `:${p.line}`}`, reason: p.reason }));
  return { seen, unlabelled, skipped: [...problems, ...skipped], seconds: (performance.now() - started) / 1000 };
}

/**
 * Metrics per group of each attribute that some evaluated sample has a label for; undefined when
 * none has. Attributes asked for by name must be present.
 */
function fairnessOf(ctx: Context, labels: readonly Readonly<Record<string, string>>[], metrics: readonly string[], measure: Measure): FairnessReport | undefined {
  const present = ctx.attributes.filter((a) => labels.some((l) => a.name in l));
  const absent = ctx.attributes.filter((a) => !present.includes(a));
  if (ctx.o.groups !== undefined && absent.length > 0) {
    throw new OptionError(`--groups: no evaluated sample of ${ctx.o.dataset} has a label for ${absent.map((a) => a.name).join(' or ')}; leave it out (age and child need an age label, ethnicity and gender UTKFace's group labels, unsure its appearance labels)`);
  }
  if (present.length === 0) return undefined;
  // Group order: fixed bands, else the dataset's classes of the same name (UTKFace's race order).
  const attrs = present.map((a) => {
    const order = a.order ?? ctx.loader.targets.find((t) => t.name === a.name)?.classes;
    return order === undefined ? { name: a.name } : { name: a.name, order };
  });
  return fairnessBreakdown(labels, attrs, metrics, measure, ctx.o.minGroupSize);
}

/** Report fields every kind shares, in report order: what was measured on what first, timing and fairness last. */
function commonHead(ctx: Context, task: Task, target: TargetSpec) {
  const { o } = ctx;
  return {
    model: o.model,
    modelId: task.model,
    task: task.task,
    dataset: { layout: o.dataset, root: o.root, split: o.split, target: target.name, ...(target.classes === undefined ? {} : { classes: target.classes }), ...(o.protocol === undefined ? {} : { protocol: o.protocol }), ...(o.perturb === undefined ? {} : { perturbation: perturbationName(o.perturb) }) },
  };
}

function commonRun(ctx: Context, run: SplitRun) {
  return { detector: ctx.o.detector, tta: ctx.o.tta, samples: run.seen, ...(run.unlabelled === 0 ? {} : { unlabelled: run.unlabelled }), skipped: { count: run.skipped.length, items: run.skipped } };
}

function commonTail(ctx: Context, run: SplitRun, fairness: FairnessReport | undefined) {
  return {
    seconds: run.seconds,
    facesPerSecond: run.seen / run.seconds,
    ...(ctx.o.trainingLog === undefined ? {} : { trainingLog: ctx.o.trainingLog }),
    ...(fairness === undefined ? {} : { fairness }),
  };
}

/** Scores of a class result in the model's label order. */
function scoresOf(r: TaskResult, task: Task): number[] {
  if (r.kind !== 'class') throw new OptionError(`task "${task.task}" gives ${r.kind} results; a class target needs single-label classification`);
  return task.labels.map((l) => r.scores[l] ?? 0);
}

/**
 * The class task to measure: one named after the target (beard and moustache share their labels),
 * else the one whose labels cover the most dataset classes (by name, through synonyms).
 */
function pickClassTask(ctx: Context, target: TargetSpec, classes: readonly string[]) {
  const candidates = ctx.analyzer.tasks
    .filter((t) => t.kind === 'class')
    .map((t) => ({ task: t, map: buildLabelMap(t.labels, classes) }))
    .filter((c) => c.map.classes.length >= 2)
    .sort((a, b) => b.map.classes.length - a.map.classes.length);
  const best = candidates.find((c) => c.task.task === target.name) ?? candidates[0];
  if (best === undefined) {
    throw new OptionError(`model ${ctx.o.model} has no class task whose labels match at least two of the dataset's ${target.name} classes (${classes.join(', ')}); its tasks: ${ctx.analyzer.tasks.map((t) => `${t.task} (${t.labels.length > 8 ? `${t.kind}, ${t.labels.length} labels` : t.labels.join(', ')})`).join('; ')}`);
  }
  return best;
}

async function evalClass(ctx: Context, target: TargetSpec & { readonly classes: readonly string[] }): Promise<EvalOutcome> {
  const datasetClasses = target.classes;
  const { task, map } = pickClassTask(ctx, target, datasetClasses);
  const classes = map.classes;
  const dropped = new Set(map.droppedLabels);
  const records: EvalRecord[] = [];
  const groups: Readonly<Record<string, string>>[] = [];
  let unmatchedSamples = 0;
  let topLabelDropped = 0;
  let gallery: GalleryPick[] = [];
  const judge = (s: Sample): Verdict<number> => {
    const t = s.labels[target.name];
    if (typeof t !== 'number' || t < 0 || t >= datasetClasses.length) return { skip: `${target.name} label ${JSON.stringify(t)} is not a class index 0..${datasetClasses.length - 1}` };
    const truth = classes.indexOf(datasetClasses[t]!);
    if (truth >= 0) return { truth };
    unmatchedSamples++;
    return { skip: `class "${datasetClasses[t]}" has no counterpart among the model's labels` };
  };
  const run = await evaluateSplit(ctx, target.name, task.task, judge, (batch) => {
    const mistakes: GalleryPick[] = [];
    for (const e of batch) {
      const raw = scoresOf(e.result, task);
      if (dropped.has(task.labels[argmax(raw)]!)) topLabelDropped++;
      const scores = mapScores(map, raw);
      const predicted = argmax(scores);
      const index = records.push({ id: e.sample.id, truth: e.truth, scores }) - 1;
      groups.push(e.groups);
      if (predicted !== e.truth) mistakes.push({ index, confidence: scores[predicted]!, image: e.sample.image, file: e.file, truth: classes[e.truth]!, predicted: classes[predicted]!, detail: scores[predicted]!.toFixed(3) });
    }
    gallery = mostConfident([...gallery, ...mistakes], GALLERY_SIZE);
  });
  const { roc, pr, ...summary } = computeMetrics(classes, records);
  const predicted = records.map((r) => argmax(r.scores));
  const fairness = fairnessOf(ctx, groups, CLASS_GROUP_METRICS, classMeasure(records.map((r) => r.truth), predicted, classes.length));
  const head = commonHead(ctx, task, target);
  const report: EvalReport = {
    format: 2,
    kind: 'class',
    ...head,
    dataset: { ...head.dataset, classes: datasetClasses },
    classes,
    labelMap: { identity: map.identity, mapped: map.mapped, unmatchedClasses: map.unmatchedClasses, droppedLabels: map.droppedLabels, unmatchedSamples, topLabelDropped },
    ...commonRun(ctx, run),
    ...summary,
    mistakes: gallery.map((g) => ({ id: records[g.index]!.id, file: g.file, truth: g.truth, predicted: g.predicted, confidence: g.confidence })),
    ...commonTail(ctx, run, fairness),
    roc,
    pr,
    predictions: { id: records.map((r) => r.id), truth: records.map((r) => r.truth), predicted, scores: records.map((r) => r.scores.map((v) => round(v, 6))) },
  };
  return { report, gallery };
}

async function evalAge(ctx: Context, target: TargetSpec): Promise<EvalOutcome> {
  const task = ctx.analyzer.tasks.find((t) => t.task === target.name && t.kind === 'value');
  if (task === undefined) {
    throw new OptionError(`model ${ctx.o.model} has no value task "${target.name}" (years) to compare with the dataset's ${target.name} labels; its tasks: ${ctx.analyzer.tasks.map((t) => `${t.task} (${t.kind})`).join(', ')}`);
  }
  const ids: string[] = [];
  const truth: number[] = [];
  const predicted: number[] = [];
  const groups: Readonly<Record<string, string>>[] = [];
  let gallery: GalleryPick[] = [];
  const judge = (s: Sample): Verdict<number> => {
    const t = s.labels[target.name];
    return typeof t === 'number' && Number.isFinite(t) && t >= 0 ? { truth: t } : { skip: `${target.name} label ${JSON.stringify(t)} is not a number of years ≥ 0` };
  };
  const run = await evaluateSplit(ctx, target.name, task.task, judge, (batch) => {
    const errors = batch.map((e): GalleryPick => {
      if (e.result.kind !== 'value') throw new OptionError(`task "${task.task}" gives ${e.result.kind} results; age needs a value`);
      const p = e.result.value;
      const index = ids.push(e.sample.id) - 1;
      truth.push(e.truth);
      predicted.push(p);
      groups.push(e.groups);
      return { index, confidence: Math.abs(p - e.truth), image: e.sample.image, file: e.file, truth: String(e.truth), predicted: p.toFixed(1), detail: `error ${signed(p - e.truth)} years` };
    });
    gallery = mostConfident([...gallery, ...errors], GALLERY_SIZE);
  });
  const fairness = fairnessOf(ctx, groups, AGE_GROUP_METRICS, ageMeasure(truth, predicted));
  const report: AgeEvalReport = {
    format: 2,
    kind: 'value',
    ...commonHead(ctx, task, target),
    ...commonRun(ctx, run),
    ...ageMetrics(truth, predicted),
    largestErrors: gallery.map((g) => ({ id: ids[g.index]!, file: g.file, truthYears: truth[g.index]!, predictedYears: round(predicted[g.index]!, 3) })),
    ...commonTail(ctx, run, fairness),
    predictions: { id: ids, truthYears: truth, predictedYears: predicted.map((p) => round(p, 3)) },
  };
  return { report, gallery };
}

export interface EvalHooks {
  /** Checked before each sample is read; the job then throws the signal's reason. */
  readonly signal?: AbortSignal;
  /** After each inference batch: samples evaluated so far. */
  readonly onProgress?: (p: { readonly samples: number }) => void;
}

/** The target to measure: the named one (a class or age target), else the first class target. */
function pickTarget(loader: DatasetLoader, o: EvalOptions): TargetSpec {
  const t = loader.targets.find((x) => (o.target === undefined ? x.kind === 'class' : x.name === o.target));
  if (t !== undefined && ((t.kind === 'class' && t.classes !== undefined) || t.kind === 'regression')) return t;
  const hint = o.dataset === 'utkface' && o.target !== undefined && o.target in APPEARANCE_CLASSES && o.appearance === undefined ? ' (pass --appearance FILE for the appearance targets)' : '';
  throw new OptionError(`dataset ${o.dataset} has no class or age target${o.target === undefined ? '' : ` named "${o.target}"`}${hint}; targets: ${loader.targets.map((x) => `${x.name} (${x.kind})`).join(', ')}`);
}

/** Measures `o.model` on the dataset split; `o.out` is not written here (see writeEvalReport). */
export async function runEvaluation(o: EvalOptions, hooks: EvalHooks = {}): Promise<EvalOutcome> {
  // The report's location is checked before any work, so minutes of inference do not end in a failed write.
  if (o.out !== undefined) await checkOutputTarget('--out', o.out);
  const loader = await createLoader(o.dataset, {
    root: o.root,
    ...(o.appearance === undefined ? {} : { appearance: o.appearance }),
    ...(o.splitFile === undefined ? {} : { splitFile: o.splitFile }),
    ...(o.protocol === undefined ? {} : { ferplusProtocol: o.protocol }),
  });
  const target = pickTarget(loader, o);
  const { attributes, unknown } = pickAttributes(o.groups, target.name);
  if (unknown.length > 0) throw new OptionError(`--groups: unknown attribute ${unknown.join(', ')}; use ${GROUP_ATTRIBUTES.map((a) => a.name).join(', ')} or none`);
  // Only the measured model's tasks: without `tasks` the analyzer would also run every installed default model.
  const { manifest } = await createModelStore().resolveModel(o.model);
  const tasks = manifest.outputs.map((out) => out.task);
  const analyzer = await createAnalyzer({ models: [o.model], tasks, detector: o.detector as DetectorName, tta: o.tta, ...(o.threads === undefined ? {} : { threads: o.threads }) });
  try {
    const ctx: Context = { o, hooks, analyzer, loader, attributes };
    return target.classes === undefined ? await evalAge(ctx, target) : await evalClass(ctx, { ...target, classes: target.classes });
  } finally {
    await analyzer.dispose();
  }
}

/** report.json, the CSV tables and report.html into `dir`. */
export async function writeEvalReport(dir: string, { report, gallery }: EvalOutcome): Promise<void> {
  const items = await Promise.all(gallery.map(async (g) => ({ file: g.file, truth: g.truth, predicted: g.predicted, detail: g.detail, thumbnail: await thumbnail(g.image) })));
  const figures = await renderFigures(evalFigureSpecs(report));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  for (const t of reportTables(report)) await writeFile(join(dir, t.name), t.text);
  await writeFile(join(dir, 'report.html'), evalReportHtml(report, figures, items));
}
