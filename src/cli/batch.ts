import { parseArgs } from 'node:util';
import { BatchError, OptionError } from '../core/errors.js';
import { analysisOptionsFromArgs, ANALYSIS_USAGE } from '../batch/options.js';
import { formatDuration, formatProgress } from '../batch/progress.js';
import { batchFiles, readManifest, runLocalBatch } from '../batch/run.js';
import { recoverLedger } from '../batch/ledger.js';
import { exportRecords, type ResultRecord } from '../results/records.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import { checkOutputDir } from '../io/outputs.js';
import { openOutput } from './output.js';
import { ANALYSIS_ARGS } from './options.js';

export const BATCH_USAGE = `Usage: facesense batch <command> [options]

Large batches, resumable and spread over processes or machines.

On this machine (nothing else to install):
  batch run <files|dirs|list.txt>... --out DIR [--workers N] [--resume]
                          analyse with N worker processes; results.jsonl (append-only, one
                          record per input), results.csv and summary.json in DIR. A run stopped
                          at any point (Ctrl-C, kill -9, power loss) continues with --resume
                          and analyses exactly the inputs that have no record yet.
  batch export DIR [--format csv|jsonl] [--out FILE]
                          a batch directory's records as the CLI's CSV or JSONL

On many machines (BullMQ on Redis; inputs must be on storage every worker can read at the same
path, e.g. NFS; run \`facesense worker --redis URL\` on each machine):
  batch submit <files|dirs|list.txt|videos>... --redis URL (--postgres URL | --out DIR)
               [--batch ID] [--chunk N] [--segment-sec S]
  batch status BATCH --redis URL [--watch]
  batch results BATCH --redis URL [--format csv|jsonl] [--out FILE]
  batch retry-failed BATCH --redis URL
  batch cancel BATCH --redis URL

Run \`facesense batch <command> --help\` for a command's options.`;

const RUN_USAGE = `Usage: facesense batch run <files|dirs|list.txt>... --out DIR [options]

Inputs: image files, directories (searched recursively for images) and list files (*.txt: one
path per line, # comments). Each input gets exactly one record, keyed by its path as listed.

Options:
  --out DIR               batch directory (required)
  --workers N             worker processes (default: 1; each loads its own models)
  --threads N             ONNX Runtime threads per worker (default: cores / workers)
  --resume                continue the batch in DIR (inputs and settings come from DIR/batch.json)
${ANALYSIS_USAGE}
  --quiet                 no progress lines
  -h, --help              this text

Exit code: 0 when every input has a record (bad inputs are error records, as in analyze),
1 when the run was interrupted or every input failed, 2 for a usage error.`;

export async function runBatch(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'run':
      return batchRun(rest);
    case 'export':
      return batchExport(rest);
    case 'submit':
    case 'status':
    case 'results':
    case 'retry-failed':
    case 'cancel':
      return (await import('./batch-queue.js')).runBatchQueue(sub, rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(`${BATCH_USAGE}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw new OptionError(`unknown batch command "${sub}"; use run, export, submit, status, results, retry-failed or cancel`);
  }
}

async function batchRun(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...ANALYSIS_ARGS,
      out: { type: 'string' },
      workers: { type: 'string' },
      threads: { type: 'string' },
      resume: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${RUN_USAGE}\n`);
    return 0;
  }
  if (values.out === undefined) throw new OptionError('--out DIR is required');
  if (positionals.length === 0 && !values.resume) throw new OptionError('give at least one image file, directory or list file');
  const workers = parseNumberOption('workers', values.workers, RULES.workers) ?? 1;
  const threads = parseNumberOption('threads', values.threads, RULES.threads);
  const analysis = analysisOptionsFromArgs(values);
  // The batch directory is checked (created) before any input is listed or model loaded.
  await checkOutputDir('--out', values.out);
  const abort = new AbortController();
  // First Ctrl-C / SIGTERM: hand out no more inputs, finish those in flight, keep the log consistent.
  const stop = () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\nstopping: finishing the inputs in flight (again to quit at once; --resume continues)\n');
    abort.abort();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  const tty = process.stderr.isTTY === true;
  let last = 0;
  try {
    const s = await runLocalBatch({
      inputs: positionals,
      outDir: values.out,
      analysis,
      workers,
      ...(threads === undefined ? {} : { threads }),
      resume: values.resume,
      signal: abort.signal,
      onProgress: (p) => {
        const now = Date.now();
        if (values.quiet || now - last < (tty ? 200 : 10_000)) return;
        last = now;
        process.stderr.write(tty ? `\r${formatProgress('batch', p)}   ` : `${formatProgress('batch', p)}\n`);
      },
    });
    if (tty && !values.quiet) process.stderr.write('\n');
    const codes = Object.entries(s.errors).map(([c, n]) => `${c} ${n}`).join(', ');
    process.stderr.write(
      `batch ${s.outDir}: ${s.inputs} inputs have a record (${s.alreadyDone} from before, ${s.analysed} now), ${s.ok} ok, ${s.failed} errors${codes === '' ? '' : ` (${codes})`}, ` +
        `${s.faces} faces; ${formatDuration(s.seconds)} at ${s.imagesPerSec.toFixed(1)} inputs/s with ${workers} worker(s)` +
        `${s.interrupted ? '; INTERRUPTED: run again with --resume to finish' : ''}\n`,
    );
    if (s.interrupted || (s.inputs > 0 && s.ok === 0)) return 1;
    return 0;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}

async function batchExport(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { format: { type: 'string', default: 'csv' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help || positionals.length !== 1) {
    process.stdout.write('Usage: facesense batch export DIR [--format csv|jsonl] [--out FILE]\n');
    return values.help ? 0 : 2;
  }
  const format = values.format;
  if (format !== 'csv' && format !== 'jsonl') throw new OptionError(`--format must be csv or jsonl (got "${format}")`);
  const files = batchFiles(positionals[0]!);
  const manifest = await readManifest(files.manifest);
  if (manifest === undefined) throw new BatchError('BATCH_NOT_FOUND', 'not a batch directory (batch.json is missing)', { source: positionals[0]! });
  const records: ResultRecord[] = [];
  await recoverLedger<ResultRecord>(files.results, (r) => records.push(r), { readOnly: true });
  const out = openOutput(values.out);
  await exportRecords(records, format, manifest.tasks ?? [], out.write);
  await out.end();
  return 0;
}
