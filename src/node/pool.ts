/**
 * The analyzer on worker threads. onnxruntime-node runs a session synchronously on the calling
 * thread (its async `run` only defers to setImmediate), so in one thread the detector, the JS
 * align pass and every classifier run one after another, and a second input in flight overlaps
 * only its sharp decode. Here each worker thread holds its own analyzer (single-threaded ONNX
 * Runtime sessions by default) and whole inputs are dealt out to them: the cores work on
 * different images at once. Results and typed errors are plain data across the boundary.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { analyzeManyWith, type AnalyzeOptions, type Analyzer, type BatchItem, type CropItem, type CropOptions, type ImageResult, type StageTimings } from '../core/analyzer.js';
import { deserialiseError, FacesenseError, OptionError, type SerialisedError } from '../core/errors.js';
import type { TaskResult } from '../core/postprocess.js';
import type { ImageInput } from '../core/types.js';
import { checkAnalyzeOptions, checkAnalyzerOptions, checkNumber, RULES } from '../core/validate.js';
import { createLifecycle } from '../core/lifecycle.js';
import type { NodeAnalyzerOptions } from './analyzer.js';

/** Messages to a worker (src/node/pool-worker.ts). */
export type PoolRequest =
  | { readonly id: number; readonly kind: 'analyze'; readonly input: ImageInput; readonly options: AnalyzeOptions }
  | { readonly id: number; readonly kind: 'crops'; readonly inputs: readonly ImageInput[]; readonly tta?: boolean };

/** Messages from a worker. */
export type PoolReply =
  | { readonly kind: 'ready'; readonly detectorName: string; readonly tasks: Analyzer['tasks'] }
  | { readonly kind: 'fatal'; readonly error: SerialisedError | string }
  | { readonly id: number; readonly kind: 'result'; readonly result: ImageResult }
  | { readonly id: number; readonly kind: 'crops'; readonly items: readonly CropItemData[]; readonly timings: StageTimings }
  | { readonly id: number; readonly kind: 'error'; readonly error: SerialisedError }
  | { readonly id: number; readonly kind: 'bug'; readonly message: string };

/** A request before the pool numbers it. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export type CropItemData = { readonly ok: true; readonly attributes: Record<string, TaskResult> } | { readonly ok: false; readonly source: string; readonly error: SerialisedError };

export interface PoolOptions extends NodeAnalyzerOptions {
  /** Worker threads, each with its own analyzer. @default availableParallelism() */
  readonly workers?: number;
}

const WORKER = new URL('./pool-worker.js', import.meta.url);

/** Crops per worker message: large enough that one session call per model stays batched. */
const MIN_CROPS_PER_WORKER = 32;

/**
 * An Analyzer whose work runs on `workers` threads. Options are the in-process analyzer's, except
 * that the detector must be named (a FaceDetector object cannot cross threads) and `threads`
 * (ONNX Runtime threads per session, per worker) defaults to 1.
 */
export async function createAnalyzerPool(options: PoolOptions = {}): Promise<Analyzer> {
  const { workers: count = availableParallelism(), ...rest } = options;
  checkNumber('workers', count, RULES.workers);
  checkAnalyzerOptions(rest);
  if (rest.detector !== undefined && typeof rest.detector !== 'string') throw new OptionError('the worker pool needs a detector by name (yunet, yunet-640, viola-jones, none), not a FaceDetector object');
  const init: NodeAnalyzerOptions = { threads: 1, ...rest };

  interface Slot { worker: Worker; pending: Map<number, { resolve: (r: PoolReply) => void; reject: (e: unknown) => void }> }
  const slots: Slot[] = [];
  let nextId = 0;
  let ready: Extract<PoolReply, { kind: 'ready' }> | undefined;
  const life = createLifecycle();

  const startWorker = (): Promise<Slot> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(WORKER, { workerData: init });
      const slot: Slot = { worker, pending: new Map() };
      let started = false;
      const crashed = (why: string) => {
        const e = new FacesenseError('WORKER_CRASHED', `an analyzer worker thread ${why}`);
        if (!started) reject(e);
        for (const p of slot.pending.values()) p.reject(e);
        slot.pending.clear();
      };
      worker.on('message', (m: PoolReply) => {
        if (m.kind === 'ready') {
          started = true;
          ready = m;
          resolve(slot);
        } else if (m.kind === 'fatal') {
          reject(typeof m.error === 'string' ? new Error(m.error) : deserialiseError(m.error));
        } else {
          const p = slot.pending.get(m.id);
          slot.pending.delete(m.id);
          p?.resolve(m);
        }
      });
      worker.on('error', (e) => crashed(`failed (${e.message})`));
      worker.on('exit', (code) => crashed(`exited (code ${code})`));
    });

  const started = await Promise.allSettled(Array.from({ length: count }, startWorker));
  for (const s of started) if (s.status === 'fulfilled') slots.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(slots.map((s) => s.worker.terminate()));
    throw failed.reason;
  }
  const { detectorName, tasks } = ready!;

  /** Sends to the worker with the fewest requests outstanding. */
  function send(request: WithoutId<PoolRequest>): Promise<PoolReply> {
    const slot = slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...request, id });
    });
  }

  function settle(m: PoolReply): never {
    if (m.kind === 'error') throw deserialiseError(m.error);
    if (m.kind === 'bug') throw new Error(m.message);
    throw new Error(`unexpected worker reply ${m.kind}`);
  }

  function analyze(input: ImageInput, opts: AnalyzeOptions = {}): Promise<ImageResult> {
    return life.run(async () => {
      checkAnalyzeOptions(opts);
      const { signal, ...plain } = opts;
      const source = typeof input === 'string' ? input : (opts.sourceName ?? '<input>');
      life.checkAborted(signal, source);
      const m = await send({ kind: 'analyze', input, options: plain });
      life.checkAborted(signal, source);
      return m.kind === 'result' ? m.result : settle(m);
    });
  }

  async function* analyzeMany(inputs: Iterable<ImageInput> | AsyncIterable<ImageInput>, opts: AnalyzeOptions & { concurrency?: number } = {}): AsyncGenerator<BatchItem> {
    life.checkOpen();
    // Two in flight per worker: one running, one decoding/queued behind it.
    yield* analyzeManyWith(analyze, inputs, { ...opts, concurrency: opts.concurrency ?? 2 * slots.length });
  }

  /** Crops split across the workers in contiguous chunks; each chunk is one batched call per model there. */
  function classifyCropsSettled(inputs: readonly ImageInput[], opts: CropOptions = {}): Promise<CropItem[]> {
    return life.run(async () => {
      if (!Array.isArray(inputs)) throw new OptionError('classifyCrops needs an array of inputs');
      checkAnalyzeOptions(opts);
      if (opts.onTimings !== undefined && typeof opts.onTimings !== 'function') throw new OptionError('onTimings must be a function');
      const t0 = performance.now();
      const chunks = Math.max(1, Math.min(slots.length, Math.floor(inputs.length / MIN_CROPS_PER_WORKER)));
      const size = Math.ceil(inputs.length / chunks);
      const replies = await Promise.all(
        Array.from({ length: chunks }, (_, k) => send({ kind: 'crops', inputs: inputs.slice(k * size, (k + 1) * size), ...(opts.tta === undefined ? {} : { tta: opts.tta }) })),
      );
      const items: CropItem[] = [];
      const sum: StageTimings = { decodeMs: 0, detectMs: 0, alignMs: 0, normaliseMs: 0, inferMs: 0, postprocessMs: 0, totalMs: 0 };
      for (const m of replies) {
        if (m.kind !== 'crops') settle(m);
        for (const it of m.items) items.push(it.ok ? it : { ok: false, source: it.source, error: deserialiseError(it.error) });
        // Stages summed over the workers (CPU time spent), total as seen by the caller.
        for (const k of ['decodeMs', 'alignMs', 'inferMs', 'postprocessMs'] as const) sum[k] = (sum[k] ?? 0) + (m.timings[k] ?? 0);
      }
      sum.totalMs = performance.now() - t0;
      opts.onTimings?.(sum);
      return items;
    });
  }

  async function classifyCrops(inputs: readonly ImageInput[], opts: CropOptions = {}): Promise<Record<string, TaskResult>[]> {
    const items = await classifyCropsSettled(inputs, opts);
    const bad = items.find((it) => !it.ok);
    if (bad !== undefined && !bad.ok) throw bad.error;
    return items.map((it) => (it.ok ? it.attributes : {}));
  }

  function dispose(): Promise<void> {
    return life.dispose(async () => {
      await Promise.all(slots.map((s) => s.worker.terminate()));
    });
  }

  return { detectorName, tasks, analyze, analyzeMany, classifyCrops, classifyCropsSettled, dispose };
}
