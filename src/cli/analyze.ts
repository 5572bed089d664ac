import { createWriteStream } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { type BatchItem, type DetectorName } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { writeAnnotated } from '../node/annotate.js';
import { FacesenseError, OptionError } from '../core/errors.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import { checkOutputDir, checkOutputFile } from '../io/outputs.js';
import { csvHeader, csvLine, csvRows, itemToJson, type OutputFormat } from './format.js';
import { expandInputs } from './inputs.js';
import { detectOptions } from './options.js';
import { createProgress } from './progress.js';

export const ANALYZE_USAGE = `Usage: facesense analyze <files|dirs|globs>... [options]

Detects faces and reads their attributes. Directories are searched recursively for images.

Options:
  --format json|jsonl|csv   output format (default: json)
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
  --annotate DIR            write each image with boxes, landmarks and labels into DIR
  --concurrency N           images in flight (default: 2)
  --threads N               ONNX Runtime threads per model (default: one per core)
  --models-dir DIR          where models are looked up first (default: $FACESENSE_MODELS)
  --strict                  exit non-zero if any input fails
  -h, --help                this text

Exit code: 0 when at least one input was analysed (errors are reported per file), 1 when every
input failed (or any, with --strict), 2 for a usage error.`;

export async function runAnalyze(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string', default: 'json' },
      out: { type: 'string' },
      tasks: { type: 'string' },
      model: { type: 'string', multiple: true },
      detector: { type: 'string', default: 'yunet' },
      'score-threshold': { type: 'string' },
      'max-faces': { type: 'string' },
      'min-face': { type: 'string' },
      tta: { type: 'boolean', default: false },
      refine: { type: 'string' },
      'pixel-limit': { type: 'string' },
      annotate: { type: 'string' },
      concurrency: { type: 'string' },
      threads: { type: 'string' },
      'models-dir': { type: 'string' },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${ANALYZE_USAGE}\n`);
    return 0;
  }
  const format = values.format as OutputFormat;
  if (!['json', 'jsonl', 'csv'].includes(format)) throw new OptionError(`--format must be json, jsonl or csv (got "${values.format}")`);
  if (!['yunet', 'yunet-640', 'viola-jones', 'none'].includes(values.detector)) throw new OptionError(`--detector must be yunet, yunet-640, viola-jones or none (got "${values.detector}")`);
  if (positionals.length === 0) throw new OptionError('give at least one image file, directory or glob');
  const detect = detectOptions(values);
  const threads = parseNumberOption('threads', values.threads, RULES.threads);
  const pixelLimit = parseNumberOption('pixel-limit', values['pixel-limit'], RULES.pixelLimit);
  const refine = parseNumberOption('refine', values.refine, RULES.refineLandmarks);
  const concurrency = parseNumberOption('concurrency', values.concurrency, RULES.concurrency) ?? 2;
  // Output locations are checked before any model loads or image is read.
  if (values.out !== undefined) await checkOutputFile('--out', values.out);
  if (values.annotate !== undefined) await checkOutputDir('--annotate', values.annotate);
  const analyzer = await createAnalyzer({
    detector: values.detector as DetectorName,
    ...(values.tasks === undefined ? {} : { tasks: values.tasks.split(',').map((t) => t.trim()).filter(Boolean) }),
    ...(values.model === undefined ? {} : { models: values.model }),
    ...(threads === undefined ? {} : { threads }),
    ...(pixelLimit === undefined ? {} : { pixelLimit }),
    detect,
    ...(refine === undefined ? {} : { refineLandmarks: refine }),
    tta: values.tta,
    ...(values['models-dir'] === undefined ? {} : { store: { modelsDir: values['models-dir'] } }),
  });
  const out = values.out === undefined ? process.stdout : createWriteStream(values.out);
  const write = (s: string) => new Promise<void>((res, rej) => (out.write(s) ? res() : out.once('drain', res).once('error', rej)));

  let images = 0;
  let failed = 0;
  let faces = 0;
  const t0 = Date.now();
  const progress = createProgress('analyze');
  try {
    // Task labels for CSV columns come from the loaded models, so the header is known up front.
    const tasks = analyzer.tasks;
    if (format === 'csv') await write(`${csvLine(csvHeader(tasks))}\n`);
    if (format === 'json') await write('[\n');
    // Listing errors and paths in input order: each result is emitted after the listing errors
    // found before its path, so records come out in the order the inputs were listed.
    const listed: (BatchItem | 'path')[] = [];
    const paths = (async function* () {
      for await (const e of expandInputs(positionals)) {
        if ('error' in e) listed.push({ ok: false, source: e.path, error: e.error });
        else {
          listed.push('path');
          yield e.path;
        }
      }
    })();
    const flushListed = async (upToPath: boolean) => {
      while (listed.length > 0) {
        const head = listed.shift()!;
        if (head === 'path') {
          if (upToPath) return;
          continue;
        }
        await emit(head);
      }
    };
    const emit = async (item: BatchItem) => {
      images++;
      if (item.ok) faces += item.result.faces.length;
      else failed++;
      if (format === 'csv') for (const row of csvRows(item, tasks)) await write(`${csvLine(row)}\n`);
      else await write(`${format === 'json' && images > 1 ? ',\n' : ''}${JSON.stringify(itemToJson(item))}${format === 'jsonl' ? '\n' : ''}`);
      if (!item.ok) process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}error: ${item.error.message} [${item.error.code}]\n`);
      progress.tick();
    };
    for await (const item of analyzer.analyzeMany(paths, { concurrency })) {
      await flushListed(true);
      if (item.ok && values.annotate !== undefined) {
        const ext = extname(item.source).toLowerCase();
        const target = join(values.annotate, `${basename(item.source, extname(item.source))}.annotated${['.png', '.webp'].includes(ext) ? ext : '.jpg'}`);
        // A failed annotated copy costs only that copy: the result is still written.
        await writeAnnotated(item.source, item.result.faces, target).catch((e: unknown) =>
          process.stderr.write(`warning: ${item.source}: cannot write the annotated copy ${target} (${e instanceof FacesenseError ? e.message : String(e)})\n`),
        );
      }
      await emit(item);
    }
    await flushListed(false);
    if (format === 'json') await write('\n]\n');
  } finally {
    progress.done();
    await analyzer.dispose();
    if (out !== process.stdout) await new Promise<void>((res) => (out as NodeJS.WritableStream).end(res));
  }
  const secs = (Date.now() - t0) / 1000;
  process.stderr.write(
    `analyzed ${images - failed}/${images} inputs, ${faces} faces, ${failed} errors in ${secs.toFixed(1)} s` +
      ` (detector ${analyzer.detectorName}; tasks ${analyzer.tasks.map((t) => `${t.task}←${t.model}`).join(', ') || 'none: no attribute model installed'})\n`,
  );
  if (images === 0) return 1;
  if (failed === images) return 1;
  return values.strict && failed > 0 ? 1 : 0;
}
