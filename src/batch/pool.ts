/**
 * A pool of worker processes (src/batch/child.ts) on this machine. Each keeps `inflight` paths
 * queued so decoding overlaps inference; a worker that dies (crash, OOM kill) is replaced and
 * its paths are handed out again, and a path that has killed `maxAttempts` workers gets a
 * WORKER_CRASHED record instead of stopping the batch.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { BatchError, FacesenseError, type ErrorCode } from '../core/errors.js';
import type { ResultRecord } from '../results/records.js';
import type { BatchAnalysisOptions } from './options.js';

export type ParentMessage = { type: 'init'; options: BatchAnalysisOptions; threads?: number } | { type: 'job'; id: number; path: string };
export type ChildReply =
  | { type: 'ready'; tasks: TaskInfo[] }
  | { type: 'fatal'; error: { code: ErrorCode; message: string } }
  | { type: 'done'; id: number; record: ResultRecord };

export interface TaskInfo {
  readonly task: string;
  readonly model: string;
  readonly labels: readonly string[];
}

export interface PoolOptions {
  readonly workers: number;
  readonly options: BatchAnalysisOptions;
  /** ONNX Runtime threads per worker. @default cores / workers (at least 1) */
  readonly threads?: number;
  /** Paths queued per worker. @default 2 */
  readonly inflight?: number;
  /** Workers a path may kill before it is recorded as WORKER_CRASHED. @default 2 */
  readonly maxAttempts?: number;
  /** Stops handing out paths (in-flight ones finish) when aborted. */
  readonly signal?: AbortSignal;
}

export interface PoolRun {
  /** Task columns of the loaded models, known once the first worker is ready. */
  readonly tasks: Promise<TaskInfo[]>;
  /** Resolves when every path has a record (or the signal stopped the run). */
  readonly finished: Promise<void>;
}

const CHILD = new URL('./child.js', import.meta.url);

export function runPool(paths: readonly string[], onRecord: (r: ResultRecord) => Promise<void>, o: PoolOptions): PoolRun {
  const inflight = Math.max(1, o.inflight ?? 2);
  const maxAttempts = Math.max(1, o.maxAttempts ?? 2);
  const todo = paths.map((path, id) => ({ id, path })).reverse();
  const attempts = new Map<number, number>();
  let remaining = paths.length;
  let fatal: FacesenseError | undefined;
  let resolveTasks!: (t: TaskInfo[]) => void;
  let rejectTasks!: (e: unknown) => void;
  const tasks = new Promise<TaskInfo[]>((res, rej) => ((resolveTasks = res), (rejectTasks = rej)));
  tasks.catch(() => undefined);
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const finished = new Promise<void>((res, rej) => ((finish = res), (fail = rej)));
  finished.catch(() => undefined); // the caller may stop at `tasks`' rejection and never await this
  const live = new Set<ChildProcess>();
  const writes: Promise<void>[] = [];

  const stopped = () => fatal !== undefined || o.signal?.aborted === true;
  function settleIfDone(): void {
    const busy = [...live].some((c) => (c as ChildProcess & { jobs: Map<number, string> }).jobs.size > 0);
    if (remaining === 0 || (stopped() && !busy)) {
      for (const c of live) if (c.connected) c.disconnect();
      void Promise.all(writes).then(() => (fatal === undefined ? finish() : fail(fatal)), fail);
    }
  }
  const record = (r: ResultRecord) => {
    remaining--;
    writes.push(onRecord(r).catch((e: unknown) => {
      fatal ??= e instanceof FacesenseError ? e : new BatchError('BATCH_STATE', `cannot write results: ${String(e)}`);
      throw e;
    }));
  };

  function spawnWorker(): void {
    const child = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }) as ChildProcess & { jobs: Map<number, string>; ready: boolean };
    child.jobs = new Map();
    child.ready = false;
    live.add(child);
    const feed = () => {
      while (child.ready && !stopped() && child.jobs.size < inflight && todo.length > 0) {
        const j = todo.pop()!;
        child.jobs.set(j.id, j.path);
        child.send({ type: 'job', id: j.id, path: j.path } satisfies ParentMessage);
      }
    };
    child.on('message', (m: ChildReply) => {
      if (m.type === 'ready') {
        child.ready = true;
        resolveTasks(m.tasks);
        feed();
      } else if (m.type === 'fatal') {
        fatal ??= new FacesenseError(m.error.code, m.error.message);
        rejectTasks(fatal);
        child.kill();
      } else {
        child.jobs.delete(m.id);
        record(m.record);
        feed();
        settleIfDone();
      }
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      for (const [id, path] of child.jobs) {
        const n = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, n);
        if (n >= maxAttempts) record({ source: path, ok: false, error: { code: 'WORKER_CRASHED', message: `${path}: the worker process died ${n} times analysing this input (last exit: ${signal ?? `code ${code}`})` } });
        else todo.push({ id, path });
      }
      child.jobs.clear();
      if (!stopped() && todo.length > 0 && live.size < o.workers) spawnWorker();
      if (live.size === 0 && fatal !== undefined) rejectTasks(fatal);
      settleIfDone();
    });
    child.send({ type: 'init', options: o.options, ...(o.threads === undefined ? {} : { threads: o.threads }) } satisfies ParentMessage);
  }

  o.signal?.addEventListener('abort', settleIfDone, { once: true });
  if (paths.length === 0) {
    resolveTasks([]);
    finish();
  } else for (let i = 0; i < Math.min(o.workers, paths.length); i++) spawnWorker();
  return { tasks, finished };
}
