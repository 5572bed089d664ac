/**
 * `facesense batch run`: a resumable batch on this machine. The output directory holds
 *   batch.json     the inputs and analysis settings (a resumed run uses these),
 *   results.jsonl  one record per input, append-only (src/batch/ledger.ts): the source of truth,
 *   results.csv    the same records as the CLI's CSV, rewritten when the batch finishes,
 *   summary.json   counts, errors by code, time and rate of the last run.
 * A run killed at any point (kill -9 included) continues with `resume: true` and analyses exactly
 * the inputs that have no record yet.
 */
import { createWriteStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { checkOutputDir } from '../io/outputs.js';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { BatchError } from '../core/errors.js';
import { emptyTally, exportRecords, recordOf, tally, type RecordTally, type ResultRecord } from '../results/records.js';
import { batchInputs } from './inputs.js';
import { openLedger, recoverLedger } from './ledger.js';
import type { BatchAnalysisOptions } from './options.js';
import { runPool, type TaskInfo } from './pool.js';
import { createRateMeter, type ProgressSnapshot } from './progress.js';

export interface LocalBatchOptions {
  /** Files, directories and list files; with `resume` and none given, the stored ones. */
  readonly inputs: readonly string[];
  readonly outDir: string;
  readonly analysis: BatchAnalysisOptions;
  /** Worker processes. @default 1 */
  readonly workers?: number;
  /** ONNX Runtime threads per worker. @default cores / workers */
  readonly threads?: number;
  readonly resume?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ProgressSnapshot) => void;
}

export interface BatchManifest {
  readonly version: 1;
  readonly createdAt: string;
  readonly inputs: readonly string[];
  readonly analysis: BatchAnalysisOptions;
  readonly tasks?: readonly TaskInfo[];
}

export interface LocalBatchSummary extends RecordTally {
  readonly outDir: string;
  /** Inputs found done in results.jsonl when this run started. */
  readonly alreadyDone: number;
  /** Inputs analysed by this run. */
  readonly analysed: number;
  readonly seconds: number;
  readonly imagesPerSec: number;
  /** True when the run was stopped before every input had a record. */
  readonly interrupted: boolean;
}

export const batchFiles = (dir: string) => ({
  manifest: join(dir, 'batch.json'),
  results: join(dir, 'results.jsonl'),
  csv: join(dir, 'results.csv'),
  summary: join(dir, 'summary.json'),
});

export async function readManifest(path: string): Promise<BatchManifest | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as BatchManifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BatchError('BATCH_STATE', `cannot read the batch manifest: ${(e as Error).message}`, { source: path });
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

export async function runLocalBatch(o: LocalBatchOptions): Promise<LocalBatchSummary> {
  const t0 = Date.now();
  const files = batchFiles(o.outDir);
  // Created and test-written before any work: an --out nobody can write is a typed error naming it, not a crash later.
  await checkOutputDir('--out', o.outDir);
  const stored = await readManifest(files.manifest);
  if (stored !== undefined && o.resume !== true) throw new BatchError('BATCH_STATE', 'this directory already holds a batch: pass --resume to continue it, or choose another --out', { source: o.outDir });
  if (stored === undefined && o.resume === true) throw new BatchError('BATCH_NOT_FOUND', 'no batch to resume here (batch.json is missing)', { source: o.outDir });
  if (stored !== undefined && o.inputs.length > 0 && JSON.stringify(o.inputs) !== JSON.stringify(stored.inputs)) {
    throw new BatchError('BATCH_STATE', `--resume with other inputs than the batch was started with (${stored.inputs.join(' ')}); give none to use those`, { source: o.outDir });
  }
  const manifest: BatchManifest = stored ?? { version: 1, createdAt: new Date().toISOString(), inputs: o.inputs, analysis: o.analysis };
  if (manifest.inputs.length === 0) throw new BatchError('BATCH_STATE', 'no inputs given', { source: o.outDir });
  // A new batch's manifest is written once its models have loaded, so settings that cannot work
  // (an unknown task, a missing model) leave no batch behind that only --resume would accept.

  const done = new Set<string>();
  const total = emptyTally();
  await recoverLedger<ResultRecord>(files.results, (r) => {
    done.add(r.source);
    tally(total, r);
  });
  const alreadyDone = done.size;
  const ledger = await openLedger<ResultRecord>(files.results);
  let analysed = 0;
  let tasks: readonly TaskInfo[] | undefined = manifest.tasks;
  let finished = false;
  try {
    const pending: string[] = [];
    const listingErrors: ResultRecord[] = [];
    for await (const e of batchInputs(manifest.inputs)) {
      if (done.has(e.path)) continue;
      if ('error' in e) listingErrors.push(recordOf({ ok: false, source: e.path, error: e.error }));
      else pending.push(e.path);
    }
    const meter = createRateMeter(pending.length + listingErrors.length + alreadyDone);
    meter.tick(alreadyDone);
    const onRecord = async (r: ResultRecord) => {
      await ledger.append(r);
      tally(total, r);
      analysed++;
      meter.tick();
      o.onProgress?.(meter.snapshot());
    };
    for (const r of listingErrors) await onRecord(r);
    const workers = Math.max(1, o.workers ?? 1);
    const threads = o.threads ?? Math.max(1, Math.floor(cpus().length / workers));
    const run = runPool(pending, onRecord, { workers, threads, options: manifest.analysis, ...(o.signal === undefined ? {} : { signal: o.signal }) });
    if (pending.length > 0 && tasks === undefined) {
      tasks = await run.tasks;
      await writeAtomic(files.manifest, `${JSON.stringify({ ...manifest, tasks }, null, 2)}\n`);
    }
    await run.finished;
    if (stored === undefined && pending.length === 0) await writeAtomic(files.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
    finished = total.inputs === pending.length + listingErrors.length + alreadyDone;
  } finally {
    await ledger.close();
  }
  const seconds = (Date.now() - t0) / 1000;
  if (finished) await writeResultsCsv(files.results, files.csv, tasks ?? []);
  const summary: LocalBatchSummary = { outDir: o.outDir, ...total, alreadyDone, analysed, seconds, imagesPerSec: analysed / Math.max(seconds, 1e-3), interrupted: !finished };
  await writeAtomic(files.summary, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

/** Rewrites the CSV from the JSONL log (the log is the record; the CSV is derived, so it can never disagree). */
export async function writeResultsCsv(jsonl: string, csv: string, tasks: readonly TaskInfo[]): Promise<void> {
  const records: ResultRecord[] = [];
  await recoverLedger<ResultRecord>(jsonl, (r) => records.push(r), { readOnly: true });
  const out = createWriteStream(`${csv}.tmp`);
  const write = (s: string) => new Promise<void>((res, rej) => (out.write(s) ? res() : out.once('drain', res).once('error', rej)));
  await exportRecords(records, 'csv', tasks, write);
  await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
  await rename(`${csv}.tmp`, csv);
}
