import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyzer, type DetectorName } from '../analyzer.js';
import { createLoader, isLayoutName, LAYOUTS } from '../data/loaders/index.js';
import type { Sample, SampleImage } from '../data/types.js';
import { FacesenseError, OptionError } from '../errors.js';
import { classificationReport } from '../eval/metrics.js';
import type { ImageInput } from '../types.js';
import { createProgress } from './progress.js';

export const EVAL_USAGE = `Usage: facesense eval --model ID|PATH --dataset LAYOUT --root DIR --split NAME [options]

Measures a classification model on a labelled dataset through the real TypeScript inference path
(the analyzer), and writes report.json.

Options:
  --model ID|PATH      model to measure
  --dataset LAYOUT     ${LAYOUTS.join(' | ')}
  --root DIR           dataset root
  --split NAME         split to measure (e.g. test)
  --target NAME        dataset target to compare with (default: the first class target)
  --detector NAME      none (default: inputs are face crops) | yunet | yunet-640 | viola-jones
  --tta                average each face with its mirror image
  --limit N            at most N samples
  --batch N            crops per inference batch (default 256)
  --out DIR            where report.json goes (default: print only)
  -h, --help           this text`;

function toInput(img: SampleImage): ImageInput {
  return img.kind === 'file' ? img.path : img.kind === 'encoded' ? img.bytes : img.pixels;
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
      detector: { type: 'string', default: 'none' },
      tta: { type: 'boolean', default: false },
      limit: { type: 'string' },
      batch: { type: 'string', default: '256' },
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

  const loader = await createLoader(dataset, { root });
  const target = loader.targets.find((t) => (values.target === undefined ? t.kind === 'class' : t.name === values.target));
  if (target?.classes === undefined || target.kind !== 'class') throw new OptionError(`dataset ${dataset} has no class target${values.target === undefined ? '' : ` named "${values.target}"`}; targets: ${loader.targets.map((t) => t.name).join(', ')}`);
  const analyzer = await createAnalyzer({ models: [model], detector: values.detector as DetectorName, tta: values.tta });
  const task = analyzer.tasks.find((t) => t.labels.some((l) => target.classes!.includes(l)));
  if (task === undefined) {
    await analyzer.dispose();
    throw new OptionError(`model ${model} has no task whose labels match the dataset's ${target.name} classes (${target.classes.join(', ')})`);
  }
  const classes = target.classes;
  const truth: number[] = [];
  const pred: number[] = [];
  const skipped: { file: string; reason: string }[] = [];
  const progress = createProgress('eval');
  const started = performance.now();

  const classifyOne = async (s: Sample) => (await analyzer.analyze(toInput(s.image), { sourceName: s.file ?? s.id })).faces;
  async function flush(batch: Sample[]): Promise<void> {
    let results: (string | undefined | FacesenseError)[];
    if (values.detector === 'none') {
      try {
        results = (await analyzer.classifyCrops(batch.map((s) => toInput(s.image)))).map((a) => labelOf(a[task!.task]));
      } catch (e) {
        if (!(e instanceof FacesenseError)) throw e;
        // One bad file fails the batch: redo it one by one so only that file is skipped.
        results = await Promise.all(batch.map((s) => analyzer.classifyCrops([toInput(s.image)]).then((a) => labelOf(a[0]![task!.task]), (err: unknown) => (err instanceof FacesenseError ? err : Promise.reject(err)))));
      }
    } else {
      results = await Promise.all(
        batch.map((s) =>
          classifyOne(s).then(
            (faces) => {
              const biggest = [...faces].sort((a, b) => b.boxPx.width * b.boxPx.height - a.boxPx.width * a.boxPx.height)[0];
              return biggest === undefined ? undefined : labelOf(biggest.attributes[task!.task]);
            },
            (err: unknown) => (err instanceof FacesenseError ? err : Promise.reject(err)),
          ),
        ),
      );
    }
    batch.forEach((s, i) => {
      const r = results[i];
      const t = s.labels[target!.name];
      const file = s.file ?? s.id;
      if (r instanceof FacesenseError) skipped.push({ file, reason: `${r.code}: ${r.message}` });
      else if (r === undefined) skipped.push({ file, reason: 'no face detected' });
      else if (typeof t !== 'number' || t < 0) skipped.push({ file, reason: `no ${target!.name} label` });
      else if (!classes.includes(r)) skipped.push({ file, reason: `predicted "${r}" is not a dataset class` });
      else {
        truth.push(t);
        pred.push(classes.indexOf(r));
      }
    });
    progress.tick(batch.length);
  }

  let batch: Sample[] = [];
  let seen = 0;
  try {
    for await (const s of loader.samples()) {
      if (s.split !== split) continue;
      if (seen >= limit) break;
      seen++;
      batch.push(s);
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
  const rep = classificationReport(truth, pred, classes.length);
  const report = {
    model,
    modelId: task.model,
    task: task.task,
    dataset: { layout: dataset, root, split, target: target.name, classes },
    detector: values.detector,
    tta: values.tta,
    samples: seen,
    evaluated: rep.n,
    // Everything left out is listed: the denominator never shrinks silently.
    skipped: { count: skipped.length + loader.problems.length, items: [...loader.problems.map((p) => ({ file: `${p.file}${p.line === undefined ? '' : `:${p.line}`}`, reason: p.reason })), ...skipped] },
    accuracy: rep.accuracy,
    balancedAccuracy: rep.balancedAccuracy,
    macroF1: rep.macroF1,
    perClass: Object.fromEntries(classes.map((c, i) => [c, rep.perClass[i]])),
    confusion: rep.confusion,
    seconds,
    facesPerSecond: seen / seconds,
  };
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const lines = [
    `${task.model} on ${dataset} ${split} (${target.name}, detector ${values.detector}${values.tta ? ', flip TTA' : ''}): accuracy ${pct(rep.accuracy)}, balanced ${pct(rep.balancedAccuracy)}, macro F1 ${rep.macroF1.toFixed(4)}`,
    `  ${rep.n} evaluated of ${seen}; ${report.skipped.count} skipped; ${seconds.toFixed(1)} s (${report.facesPerSecond.toFixed(0)} faces/s)`,
    ...classes.map((c, i) => `  ${c.padEnd(12)} recall ${pct(rep.perClass[i]!.recall).padStart(7)}  precision ${pct(rep.perClass[i]!.precision).padStart(7)}  support ${rep.perClass[i]!.support}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (values.out !== undefined) {
    await mkdir(values.out, { recursive: true });
    await writeFile(join(values.out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  }
  return 0;
}

function labelOf(r: { kind: string; label?: string } | undefined): string | undefined {
  return r?.kind === 'class' ? r.label : undefined;
}
