import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyzer, type Analyzer, type DetectorName, type ImageResult } from '../analyzer.js';
import { createLoader, isLayoutName, LAYOUTS } from '../data/loaders/index.js';
import { parseFerplusProtocol, type FerplusProtocol } from '../data/loaders/ferplus-folders.js';
import { APPEARANCE_CLASSES } from '../data/loaders/utkface.js';
import type { DatasetLoader, LayoutName, Sample, SampleImage, TargetSpec } from '../data/types.js';
import { FacesenseError, OptionError } from '../errors.js';
import { ageMetrics } from '../eval/age.js';
import { renderFigures } from '../eval/charts.js';
import {
  AGE_GROUP_METRICS,
  ageMeasure,
  CLASS_GROUP_METRICS,
  classMeasure,
  DEFAULT_MIN_GROUP_SIZE,
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
import { applyPerturbation, parsePerturbation, PERTURBATION_HELP, perturbationName, type Perturbation } from '../eval/perturb.js';
import { evalFigureSpecs, evalReportHtml } from '../eval/report-html.js';
import { computeMetrics, type AgeEvalReport, type AnyEvalReport, type EvalRecord, type EvalReport } from '../eval/report.js';
import { signed, summaryLines } from '../eval/summary.js';
import { reportTables } from '../eval/tables.js';
import { parseTrainingLog, type TrainingLogRow } from '../eval/training-log.js';
import { createModelStore } from '../models/store.js';
import type { TaskResult } from '../postprocess.js';
import type { ImageInput } from '../types.js';
import { positiveInt } from './options.js';
import { createProgress } from './progress.js';

/** `--split all`: every sample, whatever split the loader gives it (cross-dataset measurement). */
const ALL_SPLITS = 'all';

export const EVAL_USAGE = `Usage: facesense eval --model ID|PATH --dataset LAYOUT --root DIR --split NAME [options]

Measures a model on a labelled dataset through the real TypeScript inference path (the analyzer).

Class targets (emotion, gender, ethnicity, glasses, ...): accuracy with a bootstrap 95% CI,
balanced accuracy, macro and weighted precision/recall/F1, top-1..3 accuracy, one-vs-rest ROC AUC
and average precision per class, expected calibration error, and the confusion matrix.

Age (--target age; the model's age output, in years): MAE with a bootstrap 95% CI, RMSE, mean
signed error, cumulative score CS@1..10 years, exact and ±1-band accuracy on paper 000's 5-year
bands (its ±2.5 / ±5-year accuracies) and on FairFace's 9 age groups, and the band confusions.

Fairness: when the samples carry group labels (UTKFace: ethnicity, gender, and age bands from the
age label), the headline metrics per group (accuracy, balanced accuracy and macro F1; for age MAE,
CS@5 and mean signed error), each group's count, and the largest gap between groups.

When the model's labels differ from the dataset's classes (a FER2013 model on FER+ or CK+), they
are matched by name through synonyms (happy = happiness, angry = anger, sad = sadness); only the
dataset classes with a counterpart are measured, scores are renormalised over them, and the report
lists the mapping, the unmatched classes (their samples are skipped and counted) and the dropped
model labels.

Options:
  --model ID|PATH        model to measure
  --dataset LAYOUT       ${LAYOUTS.join(' | ')}
  --root DIR             dataset root
  --split NAME           split to measure (e.g. test); all: every sample of the dataset (a
                         dataset the model never saw, such as CK+ for a FER model)
  --target NAME          dataset target to compare with (default: the first class target); age
                         measures the model's age output
  --appearance FILE      utkface: glasses/beard/moustache labels TSV (for those targets)
  --split-file FILE      utkface: split list (default: the project's data/splits/utkface-part1.json)
  --protocol NAME        FER+ labels: plurality (default: most-voted label, 3,545 test faces) |
                         majority (Barsoum et al.'s reference: single votes dropped, kept when the
                         top emotion holds more than half the rest; 3,137 test faces)
  --groups LIST|none     fairness attributes, comma-separated: ${GROUP_ATTRIBUTES.map((a) => a.name).join(', ')}
                         (age: 0-12, 13-19, 20-39, 40-59, 60+; child: 0-12, 13+; unsure: appearance
                         labels flagged as guesses). Default: every one the samples have, bar
                         those read from the target itself
  --min-group-size N     smaller groups are listed but left out of the gaps (default ${DEFAULT_MIN_GROUP_SIZE})
  --detector NAME        none (default: inputs are face crops) | yunet | yunet-640 | viola-jones.
                         With a detector the biggest face of each image is measured; images with
                         none are skipped and listed. UTKFace-trained models need yunet: they were
                         trained on detector-aligned crops
  --tta                  average each face with its mirror image
  --perturb SPEC         robustness check: degrade every image first (${PERTURBATION_HELP});
                         e.g. jpeg:30, blur:2, downscale:0.3 (UTKFace chips: 24 px between the
                         eyes), gray, brightness:-60, contrast:0.5. One per run; see src/eval/perturb.ts
  --limit N              at most N samples
  --batch N              samples per inference batch (default 256)
  --threads N            ONNX Runtime threads per model (default: one per core)
  --training-log FILE    the model's runs/<name>/log.csv: adds training curves to report.html
  --out DIR              write report.json (every number, curves and per-sample results), CSV
                         tables and report.html (one offline file: figures, the most confident
                         mistakes or largest age errors). Tables: summary, predictions, skipped;
                         for classes per_class, confusion, confusion_normalised, roc, pr,
                         reliability; for age cumulative_score, confusion_paper000,
                         confusion_fairface; with groups fairness and fairness_gaps.
                         Default: print only
  -h, --help             this text

Compare class reports with \`facesense compare\`.`;

/** Thumbnails in the mistakes gallery. */
const GALLERY_SIZE = 24;

interface EvalOptions {
  readonly model: string;
  readonly dataset: LayoutName;
  readonly root: string;
  readonly split: string;
  readonly target: string | undefined;
  readonly appearance: string | undefined;
  readonly splitFile: string | undefined;
  readonly protocol: FerplusProtocol | undefined;
  readonly perturb: Perturbation | undefined;
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
}

interface Context {
  readonly o: EvalOptions;
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

interface Outcome {
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
  const progress = createProgress('eval');
  const started = performance.now();
  let batch: { sample: Sample; file: string; truth: T }[] = [];
  const flush = async () => {
    const results = await inferBatch(ctx.analyzer, o.detector, task, batch.map((b) => b.sample), o.perturb);
    const done: Evaluated<T>[] = [];
    batch.forEach((b, i) => {
      const r = results[i]!;
      if (typeof r === 'string') skipped.push({ file: b.file, reason: r });
      else done.push({ ...b, result: r, groups: groupLabels(b.sample, ctx.attributes) });
    });
    use(done);
    progress.tick(batch.length);
    batch = [];
  };
  let seen = 0;
  let unlabelled = 0;
  try {
    for await (const s of ctx.loader.samples()) {
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
  } finally {
    progress.done();
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

async function evalClass(ctx: Context, target: TargetSpec & { readonly classes: readonly string[] }): Promise<Outcome> {
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

async function evalAge(ctx: Context, target: TargetSpec): Promise<Outcome> {
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

function parseEvalOptions(values: Record<string, string | boolean | undefined>): Omit<EvalOptions, 'trainingLog'> & { trainingLogFile: string | undefined } {
  const str = (k: string) => values[k] as string | undefined;
  const [model, dataset, root, split] = [str('model'), str('dataset'), str('root'), str('split')];
  if (model === undefined || dataset === undefined || root === undefined || split === undefined) throw new OptionError('--model, --dataset, --root and --split are required');
  if (!isLayoutName(dataset)) throw new OptionError(`--dataset must be one of ${LAYOUTS.join(', ')}`);
  const groups = str('groups');
  const threads = str('threads');
  return {
    model,
    dataset,
    root,
    split,
    target: str('target'),
    appearance: str('appearance'),
    splitFile: str('split-file'),
    protocol: parseFerplusProtocol(str('protocol')),
    perturb: str('perturb') === undefined ? undefined : parsePerturbation(str('perturb') ?? ''),
    groups: groups === undefined ? undefined : groups.trim() === 'none' ? [] : groups.split(',').map((g) => g.trim()).filter(Boolean),
    minGroupSize: positiveInt('min-group-size', str('min-group-size'), DEFAULT_MIN_GROUP_SIZE),
    detector: str('detector') ?? 'none',
    tta: values.tta === true,
    limit: positiveInt('limit', str('limit'), Infinity),
    batchSize: positiveInt('batch', str('batch'), 256),
    threads: threads === undefined ? undefined : positiveInt('threads', threads, 1),
    trainingLogFile: str('training-log'),
    out: str('out'),
  };
}

/** The target to measure: the named one (a class or age target), else the first class target. */
function pickTarget(loader: DatasetLoader, o: EvalOptions): TargetSpec {
  const t = loader.targets.find((x) => (o.target === undefined ? x.kind === 'class' : x.name === o.target));
  if (t !== undefined && ((t.kind === 'class' && t.classes !== undefined) || t.kind === 'regression')) return t;
  const hint = o.dataset === 'utkface' && o.target !== undefined && o.target in APPEARANCE_CLASSES && o.appearance === undefined ? ' (pass --appearance FILE for the appearance targets)' : '';
  throw new OptionError(`dataset ${o.dataset} has no class or age target${o.target === undefined ? '' : ` named "${o.target}"`}${hint}; targets: ${loader.targets.map((x) => `${x.name} (${x.kind})`).join(', ')}`);
}

export async function runEval(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      dataset: { type: 'string' },
      root: { type: 'string' },
      split: { type: 'string' },
      target: { type: 'string' },
      appearance: { type: 'string' },
      'split-file': { type: 'string' },
      protocol: { type: 'string' },
      perturb: { type: 'string' },
      groups: { type: 'string' },
      'min-group-size': { type: 'string' },
      detector: { type: 'string', default: 'none' },
      tta: { type: 'boolean', default: false },
      limit: { type: 'string' },
      batch: { type: 'string', default: '256' },
      threads: { type: 'string' },
      'training-log': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  const { trainingLogFile, ...parsed } = parseEvalOptions(values);
  // Read the log first: a typo should fail before minutes of inference, not after.
  const trainingLog = trainingLogFile === undefined ? undefined : { file: trainingLogFile, rows: parseTrainingLog(await readTextOption(trainingLogFile, '--training-log'), trainingLogFile) };
  const o: EvalOptions = { ...parsed, trainingLog };

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
  let outcome: Outcome;
  try {
    const ctx: Context = { o, analyzer, loader, attributes };
    outcome = target.classes === undefined ? await evalAge(ctx, target) : await evalClass(ctx, { ...target, classes: target.classes });
  } finally {
    await analyzer.dispose();
  }
  process.stdout.write(`${summaryLines(outcome.report).join('\n')}\n`);
  if (o.out !== undefined) await writeReport(o.out, outcome);
  return 0;
}

async function writeReport(dir: string, { report, gallery }: Outcome): Promise<void> {
  const items = await Promise.all(gallery.map(async (g) => ({ file: g.file, truth: g.truth, predicted: g.predicted, detail: g.detail, thumbnail: await thumbnail(g.image) })));
  const figures = await renderFigures(evalFigureSpecs(report));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  for (const t of reportTables(report)) await writeFile(join(dir, t.name), t.text);
  await writeFile(join(dir, 'report.html'), evalReportHtml(report, figures, items));
}

async function readTextOption(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new OptionError(`${option} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
