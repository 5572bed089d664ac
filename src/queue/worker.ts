/**
 * A queue worker: takes jobs of every batch from the queue, analyses them with an analyzer for the
 * batch's settings (kept while batches share settings) and writes the results to the batch's sink.
 *
 * Faults: an input that cannot be analysed (missing on this machine, not an image, damaged) is a
 * poison input: its job goes straight to the failed set with the typed error code and is not
 * retried. Anything else (database down, disk full) is transient: BullMQ retries it with
 * exponential backoff (JOB_OPTIONS), then dead-letters it as TRANSIENT. A worker that dies holds
 * its job's lock until it expires (`lockDurationMs`); the job is then stalled and handed to
 * another worker. `close()` (SIGTERM) takes no new job and lets the current ones finish.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Analyzer } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { FacesenseError, isFacesenseError } from '../core/errors.js';
import { toAnalyzerOptions } from '../batch/options.js';
import { recordOf, type ResultRecord } from '../results/records.js';
import { openSink, type ResultSink } from '../results/sink.js';
import { keys, readMeta, redisConnection, DEFAULT_QUEUE, type FailedJob, type JobData } from './batches.js';
import { analyzeSegment } from './segments.js';

/** Jobs in flight per worker process unless told otherwise. */
export const DEFAULT_WORKER_CONCURRENCY = 2;

export interface WorkerOptions {
  readonly redisUrl: string;
  readonly queue?: string;
  /**
   * Jobs in flight in this process. Two let one job's file read and Redis/PostgreSQL round trips overlap
   * the other's analysis (`npm run bench:scale -- --worker-concurrency N`: 1.33× the images/s of one
   * on the idle 2-core machine); onnxruntime-node runs inferences one at a time on the process's thread
   * anyway. @default 2
   */
  readonly concurrency?: number;
  /** ONNX Runtime threads per model. @default one per core */
  readonly threads?: number;
  /** How long a job's lock lasts without renewal: the time to notice a dead worker. @default 30000 */
  readonly lockDurationMs?: number;
  readonly log?: (line: string) => void;
}

export interface QueueWorker {
  readonly worker: Worker;
  close(): Promise<void>;
}

/** The input errors that will fail again on any retry. */
/** How often a running video segment looks whether its batch was cancelled. */
const CANCEL_POLL_MS = 1000;

const POISON = new Set(['INPUT_NOT_FOUND', 'INPUT_UNREADABLE', 'INPUT_EMPTY', 'UNSUPPORTED_FORMAT', 'CORRUPT_IMAGE', 'PIXEL_LIMIT_EXCEEDED', 'INVALID_PIXELS', 'CORRUPT_VIDEO', 'JOB_INVALID']);

export function createQueueWorker(o: WorkerOptions): QueueWorker {
  const name = o.queue ?? DEFAULT_QUEUE;
  const log = o.log ?? (() => undefined);
  const redis = redisConnection(o.redisUrl);
  redis.on('error', () => undefined);
  const ctx = { redis, prefix: name };
  // Analyzers by analysis settings: one stays loaded for the settings of the latest job; another is
  // disposed once no job in flight uses it (with two jobs in flight, one may still run on the old one).
  const analyzers = new Map<string, { readonly analyzer: Promise<Analyzer>; users: number }>();
  let latest: string | undefined;
  const sinks = new Map<string, Promise<ResultSink>>();

  async function withAnalyzer<T>(batchId: string, meta: Awaited<ReturnType<typeof readMeta>>, fn: (a: Analyzer) => Promise<T>): Promise<T> {
    const key = JSON.stringify(meta.analysis);
    latest = key;
    let e = analyzers.get(key);
    if (e === undefined) {
      const entry = { analyzer: createAnalyzer(toAnalyzerOptions(meta.analysis, o.threads)), users: 0 };
      // Settings that fail to load (a model missing here) are tried afresh by the job's retry.
      entry.analyzer.catch(() => analyzers.get(key) === entry && analyzers.delete(key));
      analyzers.set(key, (e = entry));
    }
    e.users++;
    try {
      const a = await e.analyzer;
      if (meta.tasks === undefined) await redis.hsetnx(keys(name, batchId).meta, 'tasks', JSON.stringify(a.tasks.map((t) => ({ task: t.task, model: t.model, labels: t.labels }))));
      return await fn(a);
    } finally {
      e.users--;
      for (const [k, x] of analyzers) {
        if (x.users > 0 || k === latest) continue;
        analyzers.delete(k);
        void x.analyzer.then((a) => a.dispose(), () => undefined);
      }
    }
  }
  function sinkFor(meta: Awaited<ReturnType<typeof readMeta>>): Promise<ResultSink> {
    const key = JSON.stringify(meta.sink);
    let s = sinks.get(key);
    if (s === undefined) {
      s = openSink(meta.sink);
      sinks.set(key, s);
      s.catch(() => sinks.delete(key)); // a database not up yet: the retry opens it again
    }
    return s;
  }

  const isCancelled = async (batchId: string) => (await redis.hget(keys(name, batchId).meta, 'cancelled')) !== null;

  async function deadLetter(job: Job<JobData>, f: FailedJob): Promise<void> {
    await redis.hset(keys(name, job.data.batchId).failed, job.id!, JSON.stringify(f));
  }

  async function process(job: Job<JobData>): Promise<void> {
    const { batchId } = job.data;
    const meta = await readMeta(ctx, batchId).catch((e: unknown) => {
      throw isFacesenseError(e) ? new UnrecoverableError(`[${e.code}] ${e.message}`) : e;
    });
    if (meta.cancelled === true) return;
    await redis.hsetnx(keys(name, batchId).meta, 'startedAt', String(Date.now()));
    const sink = await sinkFor(meta);
    // False: the batch was cancelled while the job ran (nothing written).
    const written = await withAnalyzer(batchId, meta, async (analyzer) => {
      if (job.data.kind === 'images') {
        const records: ResultRecord[] = [];
        let i = 0;
        for (const path of job.data.paths) {
          try {
            records.push(recordOf({ ok: true, source: path, result: await analyzer.analyze(path) }));
          } catch (e) {
            if (!(e instanceof FacesenseError)) throw e;
            records.push(recordOf({ ok: false, source: path, error: e }));
          }
          await job.updateProgress({ done: ++i, total: job.data.paths.length });
        }
        // A batch cancelled while this job ran gets no more rows.
        if (await isCancelled(batchId)) return false;
        await sink.writeImages(batchId, job.id!, records);
        // A one-image job whose image is poison is dead-lettered with the code (its error record is stored too).
        const only = records.length === 1 ? records[0]! : undefined;
        if (only !== undefined && !only.ok && POISON.has(only.error.code)) {
          await deadLetter(job, { jobId: job.id!, code: only.error.code, message: only.error.message, source: only.source });
          throw new UnrecoverableError(`[${only.error.code}] ${only.error.message}`);
        }
      } else {
        const { path, segment } = job.data;
        let r;
        // A segment runs for minutes: a cancel of its batch stops it within CANCEL_POLL_MS.
        const abort = new AbortController();
        const poll = setInterval(() => void isCancelled(batchId).then((c) => c && abort.abort(), () => undefined), CANCEL_POLL_MS);
        try {
          r = await analyzeSegment(analyzer, path, segment, meta.video, abort.signal);
        } catch (e) {
          if (abort.signal.aborted) return false;
          if (isFacesenseError(e) && POISON.has(e.code)) {
            await deadLetter(job, { jobId: job.id!, code: e.code, message: e.message, source: path });
            throw new UnrecoverableError(`[${e.code}] ${e.message}`);
          }
          throw e;
        } finally {
          clearInterval(poll);
        }
        if (await isCancelled(batchId)) return false;
        await sink.writeSegment(batchId, { source: path, index: segment.index, startMs: segment.startSec * 1000, endMs: segment.endSec * 1000, data: r });
      }
      return true;
    });
    if (written) await redis.sadd(keys(name, batchId).done, job.id!);
  }

  const wconn = redisConnection(o.redisUrl);
  wconn.on('error', () => undefined);
  const worker = new Worker<JobData>(name, process, {
    connection: wconn,
    concurrency: Math.max(1, o.concurrency ?? DEFAULT_WORKER_CONCURRENCY),
    lockDuration: o.lockDurationMs ?? 30_000,
    stalledInterval: Math.min(o.lockDurationMs ?? 30_000, 30_000),
    // A job whose worker died is given to another up to this many times before it is dead-lettered.
    maxStalledCount: 3,
  });
  worker.on('error', (e) => log(`queue connection: ${e.message}`));
  worker.on('ready', () => log(`connected to ${o.redisUrl}, queue "${name}"`));
  worker.on('completed', (job) => log(`done ${job.id}`));
  worker.on('failed', (job, err) => {
    if (job === undefined) return;
    log(`failed ${job.id} (attempt ${job.attemptsMade}): ${err.message}`);
    // Transient faults that used up their attempts are dead-lettered too.
    if (!(err instanceof UnrecoverableError) && job.attemptsMade >= (job.opts.attempts ?? 1)) {
      void deadLetter(job, { jobId: job.id!, code: 'TRANSIENT', message: err.message }).catch(() => undefined);
    }
  });
  return {
    worker,
    async close() {
      await worker.close();
      for (const x of analyzers.values()) await x.analyzer.then((a) => a.dispose(), () => undefined);
      for (const s of sinks.values()) await s.then((x) => x.close(), () => undefined);
      wconn.disconnect();
      redis.disconnect();
    },
  };
}
