import { stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { FacesenseError, OptionError } from '../core/errors.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import { checkOutputFile } from '../io/outputs.js';
import { TERMS } from '../licences.js';
import { batchDocument, checkBatchOutputs, runBatch } from '../jobs/batch.js';
import { createAnalyzer } from '../node/analyzer.js';
import { createAnalyzerPool } from '../node/pool.js';
import type { OutputFormat } from '../core/format.js';
import { expandInputs } from './inputs.js';
import { analysisOptionsFromArgs, toAnalyzerOptions } from '../batch/options.js';
import { openOutput } from './output.js';
import { ANALYSIS_ARGS } from './options.js';
import { createProgress } from './progress.js';

export const ANALYZE_USAGE = `Usage: facesense analyze <files|dirs|globs>... [options]

Detects faces and reads their attributes. Directories are searched recursively for images.

Options:
  --format F                table | json | jsonl | csv (default: table on a terminal, else json)
  --age-bins                CSV: also one column per age bin (101 one-year columns)
  --out FILE                write results to FILE (default: stdout)
  --tasks a,b               tasks to run (default: every installed default task)
  --model ID|PATH           extra model to load (repeatable)
  --detector NAME           yunet | yunet-640 | viola-jones | none (default: yunet)
  --score-threshold X       minimum detector score (default: 0.6)
  --max-faces N             at most N faces per image (default: 100)
  --min-face N              ignore faces smaller than N px (default: 20)
  --pixel-limit N           refuse images over N pixels (default: 100000000)
  --tta                     average each face with its mirror image
  --refine N                rounds of landmark refinement for rotated faces (default: 0)
  --annotate DIR            write each image with boxes, landmarks and labels into DIR,
                            mirroring the inputs' folders (a/x.jpg → DIR/a/x.annotated.jpg)
  --labels a,b              annotation lines: id, quality and task names, or none (default: all)
  --workers N               worker threads analysing images side by side (default: one per
                            core when the inputs are more than one file; 1: this thread only)
  --concurrency N           images in flight (default: 2 per worker)
  --threads N               ONNX Runtime threads per model (default: 1 with workers, else
                            one per core)
  --models-dir DIR          where models are looked up first (default: $FACESENSE_MODELS)
  --strict                  exit non-zero if any input fails
  -h, --help                this text

Exit code: 0 when at least one input was analysed (errors are reported per file), 1 when every
input failed (or any, with --strict), 2 for a usage error.

${TERMS}`;

export async function runAnalyze(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      'age-bins': { type: 'boolean', default: false },
      out: { type: 'string' },
      ...ANALYSIS_ARGS,
      annotate: { type: 'string' },
      labels: { type: 'string' },
      concurrency: { type: 'string' },
      workers: { type: 'string' },
      threads: { type: 'string' },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${ANALYZE_USAGE}\n`);
    return 0;
  }
  // A person at a terminal gets the table; a pipe or a file gets JSON unless asked otherwise.
  const format = (values.format ?? (values.out === undefined && process.stdout.isTTY === true ? 'table' : 'json')) as OutputFormat;
  if (!['table', 'json', 'jsonl', 'csv'].includes(format)) throw new OptionError(`--format must be table, json, jsonl or csv (got "${values.format}")`);
  const csvOptions = { valueBins: values['age-bins'] };
  const labelLines = values.labels === undefined ? undefined : values.labels === 'none' ? [] : values.labels.split(',').map((l) => l.trim()).filter(Boolean);
  const analysis = analysisOptionsFromArgs(values);
  if (positionals.length === 0) throw new OptionError('give at least one image file, directory or glob');
  const threads = parseNumberOption('threads', values.threads, RULES.threads);
  // One input gains nothing from worker threads (they only pay their model loading).
  const oneFile = positionals.length === 1 && (await stat(positionals[0]!).then((st) => st.isFile(), () => true));
  const workers = parseNumberOption('workers', values.workers, RULES.workers) ?? (oneFile ? 1 : availableParallelism());
  const concurrency = parseNumberOption('concurrency', values.concurrency, RULES.concurrency) ?? 2 * workers;
  // Output locations are checked before any model loads or image is read.
  if (values.out !== undefined) await checkOutputFile('--out', values.out);
  const annotate = values.annotate === undefined ? {} : { annotateDir: values.annotate, ...(labelLines === undefined ? {} : { annotateLabels: labelLines }) };
  await checkBatchOutputs(annotate);
  const analyzerOptions = toAnalyzerOptions(analysis, threads);
  const analyzer = await (workers > 1 ? createAnalyzerPool({ ...analyzerOptions, workers }) : createAnalyzer(analyzerOptions));
  const out = openOutput(values.out);
  const write = out.write;

  let images = 0;
  let failed = 0;
  let faces = 0;
  const t0 = Date.now();
  const progress = createProgress('analyze');
  try {
    // Task labels for CSV columns come from the loaded models, so the header is known up front.
    const doc = batchDocument(format, analyzer.tasks, { csv: csvOptions });
    await write(doc.head());
    const items = runBatch(analyzer, expandInputs(positionals), {
      concurrency,
      ...annotate,
      onProgress: (p) => ({ items: images, failed, faces } = p),
      // A failed annotated copy costs only that copy: the result is still written.
      onAnnotateError: (source, target, e) =>
        process.stderr.write(`warning: ${source}: cannot write the annotated copy ${target} (${e instanceof FacesenseError ? e.message : String(e)})\n`),
    });
    for await (const item of items) {
      await write(doc.item(item));
      if (out.closed) break; // the reader has gone (`| head`): stop analysing
      if (!item.ok) process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}error: ${item.error.message} [${item.error.code}]\n`);
      progress.tick();
    }
    await write(doc.tail());
  } finally {
    progress.done();
    await analyzer.dispose();
    await out.end();
  }
  if (out.closed) return 0;
  const secs = (Date.now() - t0) / 1000;
  process.stderr.write(
    `analyzed ${images - failed}/${images} inputs, ${faces} faces, ${failed} errors in ${secs.toFixed(1)} s` +
      ` (detector ${analyzer.detectorName}; tasks ${analyzer.tasks.map((t) => `${t.task}←${t.model}`).join(', ') || 'none: no attribute model installed'})\n`,
  );
  if (images === 0) return 1;
  if (failed === images) return 1;
  return values.strict && failed > 0 ? 1 : 0;
}
