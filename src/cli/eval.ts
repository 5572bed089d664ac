import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyzer, type DetectorName } from '../analyzer.js';
import { createLoader, isLayoutName, LAYOUTS } from '../data/loaders/index.js';
import type { Sample, SampleImage } from '../data/types.js';
import { FacesenseError, OptionError } from '../errors.js';
import { renderFigures } from '../eval/charts.js';
import { mostConfident, thumbnail } from '../eval/gallery.js';
import { buildLabelMap, mapScores, type LabelMap } from '../eval/label-map.js';
import { argmax } from '../eval/metrics.js';
import { evalFigureSpecs, evalReportHtml } from '../eval/report-html.js';
import { computeMetrics, type EvalRecord, type EvalReport } from '../eval/report.js';
import { reportTables } from '../eval/tables.js';
import { parseTrainingLog } from '../eval/training-log.js';
import type { TaskResult } from '../postprocess.js';
import type { ImageInput } from '../types.js';
import { createProgress } from './progress.js';

export const EVAL_USAGE = `Usage: facesense eval --model ID|PATH --dataset LAYOUT --root DIR --split NAME [options]

Measures a classification model on a labelled dataset through the real TypeScript inference path
(the analyzer): accuracy with a bootstrap 95% CI, balanced accuracy, macro and weighted
precision/recall/F1, top-1..3 accuracy, one-vs-rest ROC AUC and average precision per class,
expected calibration error, and the confusion matrix.

When the model's labels differ from the dataset's classes (a FER2013 model on FER+ or CK+), they
are matched by name through synonyms (happy = happiness, angry = anger, sad = sadness); only the
dataset classes with a counterpart are measured, scores are renormalised over them, and the report
lists the mapping, the unmatched classes (their samples are skipped and counted) and the dropped
model labels.

Options:
  --model ID|PATH        model to measure
  --dataset LAYOUT       ${LAYOUTS.join(' | ')}
  --root DIR             dataset root
  --split NAME           split to measure (e.g. test)
  --target NAME          dataset target to compare with (default: the first class target)
  --detector NAME        none (default: inputs are face crops) | yunet | yunet-640 | viola-jones
  --tta                  average each face with its mirror image
  --limit N              at most N samples
  --batch N              crops per inference batch (default 256)
  --training-log FILE    the model's runs/<name>/log.csv: adds training curves to report.html
  --out DIR              write report.json (every number, curves and per-sample results),
                         CSV tables (summary, per_class, confusion, confusion_normalised, roc, pr,
                         reliability, predictions, skipped) and report.html (one offline file:
                         figures and the most confident mistakes). Default: print only
  -h, --help             this text

Compare reports with \`facesense compare\`.`;

/** Thumbnails in the mistakes gallery. */
const GALLERY_SIZE = 24;

function toInput(img: SampleImage): ImageInput {
  return img.kind === 'file' ? img.path : img.kind === 'encoded' ? img.bytes : img.pixels;
}

/** What names a sample in reports: its image file, else its label row, else its id. */
function sampleName(s: Sample): string {
  if (s.image.kind === 'file') return s.image.path;
  return s.file === undefined ? s.id : `${s.file}${s.line === undefined ? '' : `:${s.line}`}`;
}

/** Scores of a class result in the model's label order. */
function scoresOf(r: TaskResult | undefined, labels: readonly string[], task: string): number[] | undefined {
  if (r === undefined) return undefined;
  if (r.kind !== 'class') throw new OptionError(`task "${task}" gives ${r.kind} results; eval measures single-label classification tasks`);
  return labels.map((l) => r.scores[l] ?? 0);
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

export async function runEval(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      dataset: { type: 'string' },
      root: { type: 'string' },
      split: { type: 'string' },
      target: { type: 'string' },
      detector: { type: 'string', default: 'none' },
      tta: { type: 'boolean', default: false },
      limit: { type: 'string' },
      batch: { type: 'string', default: '256' },
      'training-log': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return 0;
  }
  const { model, dataset, root, split } = values;
  if (model === undefined || dataset === undefined || root === undefined || split === undefined) throw new OptionError('--model, --dataset, --root and --split are required');
  if (!isLayoutName(dataset)) throw new OptionError(`--dataset must be one of ${LAYOUTS.join(', ')}`);
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  const batchSize = Math.max(1, Number(values.batch));
  const logFile = values['training-log'];
  // Read the log first: a typo should fail before minutes of inference, not after.
  const trainingLog = logFile === undefined ? undefined : { file: logFile, rows: parseTrainingLog(await readTextOption(logFile, '--training-log'), logFile) };

  const loader = await createLoader(dataset, { root });
  const target = loader.targets.find((t) => (values.target === undefined ? t.kind === 'class' : t.name === values.target));
  if (target?.classes === undefined || target.kind !== 'class') throw new OptionError(`dataset ${dataset} has no class target${values.target === undefined ? '' : ` named "${values.target}"`}; targets: ${loader.targets.map((t) => t.name).join(', ')}`);
  const datasetClasses = target.classes;
  const analyzer = await createAnalyzer({ models: [model], detector: values.detector as DetectorName, tta: values.tta });
  // The task whose labels cover the most dataset classes (by name, through synonyms).
  const best = analyzer.tasks.map((t) => ({ t, map: buildLabelMap(t.labels, datasetClasses) })).sort((a, b) => b.map.classes.length - a.map.classes.length)[0];
  if (best === undefined || best.map.classes.length < 2) {
    await analyzer.dispose();
    throw new OptionError(`model ${model} has no task whose labels match at least two of the dataset's ${target.name} classes (${datasetClasses.join(', ')}); its tasks: ${analyzer.tasks.map((t) => `${t.task} (${t.labels.join(', ')})`).join('; ')}`);
  }
  const { t: task, map } = best;
  const classes = map.classes;
  const dropped = new Set(map.droppedLabels);

  const records: EvalRecord[] = [];
  const skipped: { file: string; reason: string }[] = [];
  let unmatchedSamples = 0;
  let topLabelDropped = 0;
  let gallery: { index: number; confidence: number; image: SampleImage; file: string; truth: number; predicted: number }[] = [];
  const progress = createProgress('eval');
  const started = performance.now();

  /** Model scores (label order) of each sample's face, undefined when no face was found, or the input's error. */
  async function infer(batch: readonly Sample[]): Promise<(number[] | undefined | FacesenseError)[]> {
    const asError = (err: unknown) => (err instanceof FacesenseError ? err : Promise.reject(err));
    if (values.detector === 'none') {
      try {
        return (await analyzer.classifyCrops(batch.map((s) => toInput(s.image)))).map((a) => scoresOf(a[task.task], task.labels, task.task));
      } catch (e) {
        if (!(e instanceof FacesenseError) || e instanceof OptionError) throw e;
        // One bad file fails the batch: redo it one by one so only that file is skipped.
        return Promise.all(batch.map((s) => analyzer.classifyCrops([toInput(s.image)]).then((a) => scoresOf(a[0]![task.task], task.labels, task.task), asError)));
      }
    }
    return Promise.all(
      batch.map((s) =>
        analyzer.analyze(toInput(s.image), { sourceName: sampleName(s) }).then((r) => {
          const biggest = [...r.faces].sort((a, b) => b.boxPx.width * b.boxPx.height - a.boxPx.width * a.boxPx.height)[0];
          return scoresOf(biggest?.attributes[task.task], task.labels, task.task);
        }, asError),
      ),
    );
  }

  async function flush(batch: readonly { sample: Sample; truth: number }[]): Promise<void> {
    const results = await infer(batch.map((b) => b.sample));
    const mistakes: typeof gallery = [];
    batch.forEach(({ sample, truth }, i) => {
      const r = results[i];
      const file = sampleName(sample);
      if (r instanceof FacesenseError) return void skipped.push({ file, reason: `${r.code}: ${r.message}` });
      if (r === undefined) return void skipped.push({ file, reason: 'no face detected' });
      if (dropped.has(task.labels[argmax(r)]!)) topLabelDropped++;
      const scores = mapScores(map, r);
      const predicted = argmax(scores);
      const index = records.push({ id: sample.id, truth, scores }) - 1;
      if (predicted !== truth) mistakes.push({ index, confidence: scores[predicted]!, image: sample.image, file, truth, predicted });
    });
    gallery = mostConfident([...gallery, ...mistakes], GALLERY_SIZE);
    progress.tick(batch.length);
  }

  let batch: { sample: Sample; truth: number }[] = [];
  let seen = 0;
  try {
    for await (const s of loader.samples()) {
      if (s.split !== split) continue;
      if (seen >= limit) break;
      seen++;
      const t = s.labels[target.name];
      const file = sampleName(s);
      if (typeof t !== 'number' || t < 0 || t >= datasetClasses.length) {
        skipped.push({ file, reason: `no ${target.name} label` });
        continue;
      }
      const truth = classes.indexOf(datasetClasses[t]!);
      if (truth < 0) {
        unmatchedSamples++;
        skipped.push({ file, reason: `class "${datasetClasses[t]}" has no counterpart among the model's labels` });
        continue;
      }
      batch.push({ sample: s, truth });
      if (batch.length >= batchSize) {
        await flush(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await flush(batch);
  } finally {
    progress.done();
    await analyzer.dispose();
  }
  if (seen === 0) throw new OptionError(`split "${split}" has no samples in ${root}`);
  const seconds = (performance.now() - started) / 1000;
  const metrics = computeMetrics(classes, records);
  const predicted = records.map((r) => argmax(r.scores));
  const skippedItems = [...loader.problems.map((p) => ({ file: `${p.file}${p.line === undefined ? '' : `:${p.line}`}`, reason: p.reason })), ...skipped];
  const { roc, pr, ...summary } = metrics;
  const report: EvalReport = {
    format: 2,
    model,
    modelId: task.model,
    task: task.task,
    dataset: { layout: dataset, root, split, target: target.name, classes: datasetClasses },
    classes,
    labelMap: { identity: map.identity, mapped: map.mapped, unmatchedClasses: map.unmatchedClasses, droppedLabels: map.droppedLabels, unmatchedSamples, topLabelDropped },
    detector: values.detector,
    tta: values.tta,
    samples: seen,
    // Everything left out is listed: the denominator never shrinks silently.
    skipped: { count: skippedItems.length, items: skippedItems },
    ...summary,
    mistakes: gallery.map((g) => ({ id: records[g.index]!.id, file: g.file, truth: classes[g.truth]!, predicted: classes[g.predicted]!, confidence: g.confidence })),
    seconds,
    facesPerSecond: seen / seconds,
    ...(trainingLog === undefined ? {} : { trainingLog }),
    roc,
    pr,
    predictions: { id: records.map((r) => r.id), truth: records.map((r) => r.truth), predicted, scores: records.map((r) => r.scores.map(round6)) },
  };
  process.stdout.write(`${summaryLines(report, map).join('\n')}\n`);
  if (values.out !== undefined) {
    const items = await Promise.all(gallery.map(async (g) => ({ file: g.file, truth: classes[g.truth]!, predicted: classes[g.predicted]!, confidence: g.confidence, thumbnail: await thumbnail(g.image) })));
    const figures = await renderFigures(evalFigureSpecs(report));
    await mkdir(values.out, { recursive: true });
    await writeFile(join(values.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    for (const t of reportTables(report)) await writeFile(join(values.out, t.name), t.text);
    await writeFile(join(values.out, 'report.html'), evalReportHtml(report, figures, items));
  }
  return 0;
}

function summaryLines(r: EvalReport, map: LabelMap): string[] {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const topK = r.topK.map((t) => `top-${t.k} ${pct(t.accuracy)}`).join(', ');
  const lines = [
    `${r.modelId} on ${r.dataset.layout} ${r.dataset.split} (${r.dataset.target}, detector ${r.detector}${r.tta ? ', flip TTA' : ''}): accuracy ${pct(r.accuracy)} [95% CI ${pct(r.accuracyCI.lower)}–${pct(r.accuracyCI.upper)}], balanced ${pct(r.balancedAccuracy)}, macro F1 ${r.macroF1.toFixed(4)}`,
    `  ${topK}; macro AUC ${r.macroAuc?.toFixed(4) ?? '–'}; ECE ${r.calibration.ece.toFixed(4)}`,
    `  ${r.evaluated} evaluated of ${r.samples}; ${r.skipped.count} skipped; ${r.seconds.toFixed(1)} s (${r.facesPerSecond.toFixed(0)} faces/s)`,
  ];
  if (!map.identity) {
    lines.push(`  label map: ${map.mapped.map((m) => `${m.modelLabels.join('+')}→${m.class}`).join(', ')}`);
    if (map.unmatchedClasses.length > 0) lines.push(`  no counterpart (skipped ${r.labelMap.unmatchedSamples} samples): ${map.unmatchedClasses.join(', ')}`);
    if (map.droppedLabels.length > 0) lines.push(`  model labels dropped: ${map.droppedLabels.join(', ')} (top label of ${r.labelMap.topLabelDropped} samples)`);
  }
  for (const c of r.classes) {
    const p = r.perClass[c]!;
    lines.push(`  ${c.padEnd(12)} recall ${pct(p.recall).padStart(7)}  precision ${pct(p.precision).padStart(7)}  AUC ${p.auc?.toFixed(3) ?? '  –  '}  support ${p.support}`);
  }
  return lines;
}

async function readTextOption(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new OptionError(`${option} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
