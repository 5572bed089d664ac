import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isLayoutName, LAYOUTS } from '../data/loaders/index.js';
import { OptionError } from '../core/errors.js';
import { DEFAULT_MIN_GROUP_SIZE, GROUP_ATTRIBUTES } from '../eval/fairness.js';
import { summaryLines } from '../eval/summary.js';
import { parseTrainingLog } from '../eval/training-log.js';
import { runEvaluation, writeEvalReport, type EvalOptions } from '../jobs/eval.js';
import { checkOutputTarget } from '../io/outputs.js';
import { parseFerplusProtocol } from '../data/loaders/ferplus-folders.js';
import { parsePerturbation, PERTURBATION_HELP } from '../eval/perturb.js';
import { positiveInt } from './options.js';
import { createProgress } from './progress.js';

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
                         eyes), gray, brightness:-60, contrast:0.5, yaw:30 (the picture turned 30
                         degrees about its vertical axis, in perspective). One per run; see src/eval/perturb.ts
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
  if (o.out !== undefined) await checkOutputTarget('--out', o.out);

  const progress = createProgress('eval');
  let done = 0;
  let outcome;
  try {
    outcome = await runEvaluation(o, {
      onProgress: ({ samples }) => {
        progress.tick(samples - done);
        done = samples;
      },
    });
  } finally {
    progress.done();
  }
  process.stdout.write(`${summaryLines(outcome.report).join('\n')}\n`);
  if (o.out !== undefined) await writeEvalReport(o.out, outcome);
  return 0;
}

async function readTextOption(file: string, option: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    throw new OptionError(`${option} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}
