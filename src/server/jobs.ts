/**
 * Video jobs with their state on disk: `<dataDir>/jobs/<id>/` holds the upload (`input`), the
 * state (`job.json`, rewritten atomically), the rows (`rows.jsonl`, `rows.csv`), and when done
 * `summary.json`, `timeline.html` and (when asked) `annotated.mp4`. A job that was queued or
 * running when the server stopped is queued again at the next start and runs from the beginning;
 * one interrupted `maxAttempts` times is reported failed. Finished jobs are deleted after the TTL.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { csvLine } from '../core/format.js';
import { FacesenseError } from '../core/errors.js';
import { runVideoJob, type VideoJobResult, type VideoJobStart } from '../jobs/video.js';
import type { FrameResult } from '../core/video/stream.js';
import { videoCsvHeader, videoCsvRow, videoJsonLine } from '../core/video/rows.js';
import type { DetectorName } from '../core/analyzer.js';
import { createModelStore, type ModelStoreOptions } from '../node/models/store.js';
import { checkFrameModel, parseSequenceWindow, resolveSequenceModel } from '../node/video/sequence.js';
import { videoOptions, type RawOptions, type VideoRequestOptions } from './options.js';
import type { AnalyzerPool } from './pool.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobRecord {
  readonly id: string;
  state: JobState;
  readonly createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** The uploaded file's name, as the client gave it. */
  readonly source: string;
  readonly options: RawOptions;
  /** Who submitted it (a hash of the API key, or the client address), for the per-client limit. */
  readonly owner: string;
  /** Starts so far (a restart mid-run starts again). */
  attempts: number;
  progress: { frames: number; expectedFrames?: number; segments?: { done: number; total: number } };
  error?: { code: string; message: string };
  result?: { framesAnalysed: number; tracks: number; faceRows: number; seconds: number; notes: readonly string[]; damage?: { code: string; message: string } };
}

export interface JobManagerOptions {
  readonly dataDir: string;
  readonly pool: AnalyzerPool;
  /** For jobs with a sequence model, which load their own analyzer (it must give embeddings): the pool's store and threads. */
  readonly store?: ModelStoreOptions;
  readonly threads?: number;
  /** Video jobs analysed at once. @default 1 */
  readonly slots?: number;
  /** Jobs waiting beyond the running ones, over all clients. @default 32 */
  readonly maxQueued?: number;
  /** Unfinished jobs per client. @default 4 */
  readonly perOwner?: number;
  /** Finished jobs are deleted this long after they finished. @default 24 h */
  readonly ttlMs?: number;
  readonly maxDurationSec?: number;
  readonly maxAttempts?: number;
  readonly onEvent?: (event: string, job: JobRecord, detail?: unknown) => void;
  /** Runs a job's analysis. @default in this process (`inProcessRunner`); `facesense serve --redis`: on the queue's workers (src/server/queue-runner.ts). */
  readonly runner?: VideoRunner;
}

/** Why a running job's signal was aborted (its `reason`). */
export const STOP = { shutdown: 'shutdown', cancel: 'cancel' } as const;

export interface VideoRunHooks {
  /** The rows' columns, once known. */
  onStart(tasks: VideoJobStart['tasks'], expectedFrames: number | undefined): Promise<void>;
  /** Each analysed frame, in order: written as rows. */
  onFrame(frame: FrameResult): Promise<void>;
  /** Where a queued job stands (a job on the queue waits for a worker while the server already watches it). */
  onProgress(p: { readonly state?: 'queued' | 'running'; readonly segments?: { done: number; total: number } }): Promise<void>;
}

export type VideoRunResult = Pick<VideoJobResult, 'summary' | 'timelineHtml' | 'framesAnalysed' | 'trackCount' | 'faceRows' | 'seconds' | 'notes' | 'damage'>;

export interface VideoRunner {
  /**
   * Analyses `<dir>/input` with the job's options; stops when `signal` aborts (reason STOP.cancel or
   * STOP.shutdown) by throwing. Runs again after a server restart for a job it had not finished.
   */
  run(job: JobRecord, dir: string, v: VideoRequestOptions, signal: AbortSignal, hooks: VideoRunHooks): Promise<VideoRunResult>;
  /** Refuses options this runner cannot honour (an OptionError: 400 before the upload is read). */
  check?(v: VideoRequestOptions): void;
  /** A job is deleted (TTL or client): anything the runner keeps for it goes too. */
  remove?(id: string): Promise<void>;
  close?(): Promise<void>;
}

/** Runs jobs in this process with the server's analyzer pool (sequence-model jobs load their own analyzer). */
export function inProcessRunner(o: Pick<JobManagerOptions, 'pool' | 'store' | 'threads' | 'maxDurationSec'>): VideoRunner {
  const store = o.store ?? {};
  return {
    async run(job, d, v, signal, hooks) {
      const own = v.sequenceModel !== undefined;
      const full = o.pool.withDefaults(v.choice);
      const run = (analyzer?: Parameters<Parameters<AnalyzerPool['use']>[1]>[0]) =>
        runVideoJob(
          join(d, 'input'),
          {
            sampling: v.sampling,
            ...(v.detectEvery === undefined ? {} : { detectEvery: v.detectEvery }),
            ...(v.smoothing === undefined ? {} : { smoothing: v.smoothing }),
            tracker: { ...(v.iou === undefined ? {} : { iouThreshold: v.iou }), ...(v.maxMissed === undefined ? {} : { maxMissed: v.maxMissed }) },
            detect: v.detect,
            ...(v.tta === undefined ? {} : { tta: v.tta }),
            // A sequence model needs embeddings, which the pool's analyzers do not give: the job loads its own.
            ...(analyzer !== undefined
              ? { analyzer }
              : {
                  detector: (full.detector ?? 'yunet') as Exclude<DetectorName, 'none'>,
                  ...(full.tasks === undefined ? {} : { tasks: full.tasks }),
                  ...(full.models === undefined ? {} : { models: full.models }),
                  ...(o.threads === undefined ? {} : { threads: o.threads }),
                  store,
                  ...(v.sequenceModel === undefined ? {} : { sequenceModel: v.sequenceModel }),
                  ...(v.sequenceWindow === undefined ? {} : { sequenceWindow: v.sequenceWindow }),
                }),
            ...(v.annotate ? { annotatePath: join(d, 'annotated.mp4') } : {}),
            ...(o.maxDurationSec === undefined ? {} : { maxDurationSec: o.maxDurationSec }),
            sourceName: job.source,
          },
          { signal, onStart: (st) => hooks.onStart(st.tasks, st.expectedFrames), onFrame: (r) => hooks.onFrame(r) },
        );
      return own ? run() : o.pool.use(v.choice, (a) => run(a));
    },
  };
}

export const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHUTDOWN = STOP.shutdown;
const CANCEL = STOP.cancel;

export interface JobManager {
  init(): Promise<void>;
  /** Checks a job's options, resolving its models, tasks and sequence model: what `create` refuses before storing the upload. */
  check(options: RawOptions): Promise<VideoRequestOptions>;
  /** Registers a job: `writeInput(path)` stores the upload there; options are checked first. */
  create(source: string, options: RawOptions, owner: string, writeInput: (path: string) => Promise<void>): Promise<JobRecord>;
  get(id: string): JobRecord | undefined;
  /** Path of one of a job's files. */
  file(id: string, name: 'rows.jsonl' | 'rows.csv' | 'summary.json' | 'timeline.html' | 'annotated.mp4'): string;
  /** Cancels a queued or running job (kept, state cancelled); deletes a finished one. Returns what happened. */
  cancel(id: string): Promise<'cancelled' | 'deleted' | undefined>;
  /** Deletes finished jobs older than the TTL. */
  sweep(): Promise<number>;
  counts(): Record<JobState, number>;
  /** Stops running jobs, leaving them queued on disk for the next start. */
  close(): Promise<void>;
}

export function createJobManager(o: JobManagerOptions): JobManager {
  // Absolute: with a queue, workers elsewhere read the uploads at these paths.
  const root = resolve(o.dataDir, 'jobs');
  const jobs = new Map<string, JobRecord>();
  const queue: string[] = [];
  const running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  const slots = o.slots ?? 1;
  const ttlMs = o.ttlMs ?? 24 * 3600 * 1000;
  const maxAttempts = o.maxAttempts ?? 3;
  let closed = false;
  let sweeper: NodeJS.Timeout | undefined;

  const store = o.store ?? {};
  const dir = (id: string) => join(root, id);
  const runner = o.runner ?? inProcessRunner(o);

  async function check(options: RawOptions): Promise<VideoRequestOptions> {
    const v = videoOptions(options);
    runner.check?.(v);
    if (v.sequenceModel === undefined) {
      // Loading the configuration resolves its models and tasks; the pool keeps it for the job.
      await o.pool.use(v.choice, async () => undefined);
      return v;
    }
    // What runVideoJob will load (the sequence model, its frame model, the window), checked without creating sessions.
    const seq = await resolveSequenceModel(v.sequenceModel, store);
    parseSequenceWindow(v.sequenceWindow, seq.manifest.window);
    const frame = await createModelStore(store).resolveModel(seq.manifest.input.frameModel.id);
    checkFrameModel(seq.manifest, frame.manifest, seq.manifestPath);
    const full = o.pool.withDefaults(v.choice);
    await o.pool.use({ ...full, models: [...(full.models ?? []), frame.manifest.id] }, async () => undefined);
    return v;
  }
  const now = () => new Date().toISOString();
  async function save(job: JobRecord): Promise<void> {
    job.updatedAt = now();
    const tmp = join(dir(job.id), `job.json.${process.pid}.tmp`);
    await writeFile(tmp, `${JSON.stringify(job, null, 2)}\n`);
    await rename(tmp, join(dir(job.id), 'job.json'));
  }

  function pump(): void {
    while (!closed && running.size < slots && queue.length > 0) {
      const id = queue.shift()!;
      const job = jobs.get(id);
      if (job === undefined || job.state !== 'queued') continue;
      const abort = new AbortController();
      const done = execute(job, abort.signal).finally(() => {
        running.delete(id);
        pump();
      });
      running.set(id, { abort, done });
    }
  }

  async function execute(job: JobRecord, signal: AbortSignal): Promise<void> {
    job.state = 'running';
    job.attempts++;
    job.startedAt = now();
    job.progress = { frames: 0 };
    delete job.error;
    await save(job);
    o.onEvent?.('started', job);
    const d = dir(job.id);
    let jsonl: WriteStream | undefined;
    let csv: WriteStream | undefined;
    let lastSave = Date.now();
    try {
      const v = videoOptions(job.options);
      jsonl = createWriteStream(join(d, 'rows.jsonl'));
      csv = createWriteStream(join(d, 'rows.csv'));
      const put = (s: WriteStream, text: string) => (s.write(text) ? undefined : new Promise<void>((r) => s.once('drain', r)));
      let tasks: VideoJobStart['tasks'] = [];
      const saveSoon = async () => {
        if (Date.now() - lastSave > 500) {
          lastSave = Date.now();
          await save(job);
        }
      };
      const result = await runner.run(job, d, v, signal, {
        onStart: async (t, expectedFrames) => {
          tasks = t;
          if (expectedFrames !== undefined) job.progress.expectedFrames = expectedFrames;
          await put(csv!, `${csvLine(videoCsvHeader(tasks))}\n`);
        },
        onFrame: async (r) => {
          for (const f of r.faces) {
            await put(jsonl!, `${videoJsonLine(r, f)}\n`);
            await put(csv!, `${csvLine(videoCsvRow(r, f, tasks))}\n`);
          }
          job.progress.frames++;
          await saveSoon();
        },
        onProgress: async (p) => {
          const changed = p.state !== undefined && p.state !== job.state;
          if (p.state !== undefined) job.state = p.state;
          if (p.segments !== undefined) job.progress.segments = p.segments;
          if (changed) {
            lastSave = Date.now();
            await save(job);
          } else await saveSoon();
        },
      });
      await writeFile(join(d, 'summary.json'), `${JSON.stringify(result.summary, null, 2)}\n`);
      await writeFile(join(d, 'timeline.html'), result.timelineHtml());
      job.result = {
        framesAnalysed: result.framesAnalysed,
        tracks: result.trackCount,
        faceRows: result.faceRows,
        seconds: result.seconds,
        notes: result.notes,
        ...(result.damage === undefined ? {} : { damage: { code: result.damage.code, message: result.damage.message } }),
      };
      job.state = 'done';
    } catch (e) {
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      if (reason === SHUTDOWN) {
        job.state = job.attempts >= maxAttempts ? 'failed' : 'queued';
        if (job.state === 'failed') job.error = { code: 'CANCELLED', message: `interrupted by ${maxAttempts} server stops; submit it again` };
      } else if (reason === CANCEL) {
        job.state = 'cancelled';
        job.error = { code: 'CANCELLED', message: 'cancelled by the client' };
      } else {
        job.state = 'failed';
        // Messages name the upload as the client named it, not its path on this server.
        job.error = e instanceof FacesenseError ? { code: e.code, message: e.message.split(join(d, 'input')).join(job.source) } : { code: 'INTERNAL', message: 'internal error while analysing; see the server log' };
        if (!(e instanceof FacesenseError)) o.onEvent?.('crashed', job, e);
      }
    } finally {
      await Promise.all([jsonl, csv].map((s) => s === undefined ? undefined : new Promise<void>((r) => s.end(r))));
    }
    if (job.state !== 'queued') job.finishedAt = now();
    await save(job);
    o.onEvent?.(job.state, job);
  }

  async function remove(id: string): Promise<void> {
    jobs.delete(id);
    await runner.remove?.(id);
    await rm(dir(id), { recursive: true, force: true });
  }

  const finished = (j: JobRecord) => j.state === 'done' || j.state === 'failed' || j.state === 'cancelled';

  return {
    check,
    async init() {
      await mkdir(root, { recursive: true });
      const found: JobRecord[] = [];
      for (const id of await readdir(root)) {
        if (!JOB_ID.test(id)) continue;
        try {
          found.push(JSON.parse(await readFile(join(dir(id), 'job.json'), 'utf8')) as JobRecord);
        } catch {
          // An upload that never got its state file (the server stopped mid-upload): nothing to resume.
          await rm(dir(id), { recursive: true, force: true });
        }
      }
      found.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      for (const job of found) {
        jobs.set(job.id, job);
        if (job.state === 'running') {
          // The server stopped without a graceful shutdown while this ran.
          job.state = job.attempts >= maxAttempts ? 'failed' : 'queued';
          if (job.state === 'failed') {
            job.error = { code: 'CANCELLED', message: `interrupted by ${maxAttempts} server stops; submit it again` };
            job.finishedAt = now();
          }
          await save(job);
        }
        if (job.state === 'queued') queue.push(job.id);
      }
      await this.sweep();
      sweeper = setInterval(() => void this.sweep().catch(() => undefined), Math.min(ttlMs, 60_000));
      sweeper.unref();
      pump();
    },
    async create(source, options, owner, writeInput) {
      if (closed) throw new FacesenseError('DISPOSED', 'the server is shutting down');
      await check(options); // bad options and unknown models fail before the upload is stored
      const unfinished = [...jobs.values()].filter((j) => !finished(j));
      if (unfinished.filter((j) => j.owner === owner).length >= (o.perOwner ?? 4)) {
        throw new FacesenseError('RATE_LIMITED', `${o.perOwner ?? 4} of your video jobs are unfinished; wait for one to finish or cancel one`);
      }
      if (queue.length >= (o.maxQueued ?? 32)) throw new FacesenseError('OVERLOADED', `${queue.length} video jobs are waiting; retry later`);
      const id = randomUUID();
      await mkdir(dir(id), { recursive: true });
      try {
        await writeInput(join(dir(id), 'input'));
      } catch (e) {
        await rm(dir(id), { recursive: true, force: true });
        throw e;
      }
      const t = now();
      const job: JobRecord = { id, state: 'queued', createdAt: t, updatedAt: t, source, options, owner, attempts: 0, progress: { frames: 0 } };
      jobs.set(id, job);
      await save(job);
      queue.push(id);
      pump();
      return job;
    },
    get: (id) => jobs.get(id),
    file: (id, name) => join(dir(id), name),
    async cancel(id) {
      const job = jobs.get(id);
      if (job === undefined) return undefined;
      if (finished(job)) {
        await remove(id);
        return 'deleted';
      }
      const r = running.get(id);
      if (r !== undefined) {
        r.abort.abort(CANCEL);
        await r.done;
      } else {
        queue.splice(queue.indexOf(id), 1);
        job.state = 'cancelled';
        job.error = { code: 'CANCELLED', message: 'cancelled by the client' };
        job.finishedAt = now();
        await save(job);
      }
      return 'cancelled';
    },
    async sweep() {
      const cutoff = Date.now() - ttlMs;
      const old = [...jobs.values()].filter((j) => finished(j) && Date.parse(j.finishedAt ?? j.updatedAt) < cutoff);
      for (const j of old) await remove(j.id);
      return old.length;
    },
    counts() {
      const c: Record<JobState, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
      for (const j of jobs.values()) c[j.state]++;
      return c;
    },
    async close() {
      closed = true;
      if (sweeper !== undefined) clearInterval(sweeper);
      for (const r of running.values()) r.abort.abort(SHUTDOWN);
      await Promise.all([...running.values()].map((r) => r.done));
      await runner.close?.();
    },
  };
}
