/**
 * Batches on BullMQ. One queue (`facesense` by default) carries every batch's jobs; a job is one
 * image, a chunk of images or one video segment, with the deterministic id `<batch>-<n>`, so
 * submitting, retrying or redelivering never makes a second copy of a job. Per batch, Redis holds
 *   <prefix>:batch:<id>          hash: meta (settings, sink, job count), tasks, times, cancelled
 *   <prefix>:batch:<id>:done     set of completed job ids (a redelivery adds nothing)
 *   <prefix>:batch:<id>:failed   hash job id → {code, message, source} of dead-lettered jobs
 */
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { BatchError, OptionError, type ErrorCode } from '../core/errors.js';
import type { BatchAnalysisOptions } from '../batch/options.js';
import type { TaskInfo } from '../batch/pool.js';
import type { SinkSpec } from '../results/sink.js';
import type { SegmentAnalysisOptions, SegmentPlan } from './segments.js';

export const DEFAULT_QUEUE = 'facesense';

export type JobData =
  | { readonly batchId: string; readonly kind: 'images'; readonly paths: readonly string[] }
  | { readonly batchId: string; readonly kind: 'video-segment'; readonly path: string; readonly segment: SegmentPlan; readonly segments: number };

export interface BatchMeta {
  readonly id: string;
  readonly createdAt: string;
  readonly analysis: BatchAnalysisOptions;
  readonly video: SegmentAnalysisOptions;
  readonly sink: SinkSpec;
  readonly jobs: number;
  readonly images: number;
  readonly videos: number;
}

export interface FailedJob {
  readonly jobId: string;
  readonly code: ErrorCode | 'TRANSIENT';
  readonly message: string;
  readonly source?: string;
}

/** Retries with exponential backoff for transient faults (database down, disk full, worker killed). */
export const JOB_OPTIONS: JobsOptions = { attempts: 5, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { count: 1000 }, removeOnFail: false };

export const keys = (prefix: string, id: string) => ({ meta: `${prefix}:batch:${id}`, done: `${prefix}:batch:${id}:done`, failed: `${prefix}:batch:${id}:failed`, all: `${prefix}:batches` });
export const jobId = (batchId: string, n: number) => `${batchId}-${String(n).padStart(7, '0')}`;

export function checkBatchId(id: string): string {
  if (!/^[A-Za-z0-9_.]{1,64}$/.test(id)) throw new OptionError(`batch id must be 1-64 letters, digits, '_' or '.' (got "${id}")`);
  return id;
}

/** A Redis connection that waits for the server (retries forever, commands queue meanwhile) as BullMQ workers need. */
export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(250 * n, 2000), lazyConnect: false });
}

export interface QueueContext {
  readonly redis: Redis;
  readonly queue: Queue;
  readonly prefix: string;
  close(): Promise<void>;
}

export function openQueue(url: string, name = DEFAULT_QUEUE): QueueContext {
  const redis = redisConnection(url);
  redis.on('error', () => undefined); // reconnects; commands wait
  // BullMQ leaves a connection it was given open on close(): keep it to close it ourselves.
  const qconn = redis.duplicate();
  const queue = new Queue(name, { connection: qconn, defaultJobOptions: JOB_OPTIONS });
  queue.on('error', () => undefined);
  return {
    redis,
    queue,
    prefix: name,
    async close() {
      await queue.close();
      qconn.disconnect();
      redis.disconnect();
    },
  };
}

export async function readMeta(ctx: Pick<QueueContext, 'redis' | 'prefix'>, id: string): Promise<BatchMeta & { tasks?: TaskInfo[]; startedAt?: number; cancelled?: boolean }> {
  const h = await ctx.redis.hgetall(keys(ctx.prefix, id).meta);
  if (h.meta === undefined) throw new BatchError('BATCH_NOT_FOUND', `no batch "${id}" in queue "${ctx.prefix}"`, { source: id });
  return {
    ...(JSON.parse(h.meta) as BatchMeta),
    ...(h.tasks === undefined ? {} : { tasks: JSON.parse(h.tasks) as TaskInfo[] }),
    ...(h.startedAt === undefined ? {} : { startedAt: Number(h.startedAt) }),
    ...(h.cancelled === undefined ? {} : { cancelled: true }),
  };
}

export async function submitBatch(ctx: QueueContext, meta: Omit<BatchMeta, 'jobs'>, jobs: readonly JobData[]): Promise<BatchMeta> {
  const k = keys(ctx.prefix, meta.id);
  const full: BatchMeta = { ...meta, jobs: jobs.length };
  // The meta is written first: a worker that takes a job always finds its batch.
  if ((await ctx.redis.hsetnx(k.meta, 'meta', JSON.stringify(full))) === 0) throw new BatchError('BATCH_STATE', `batch "${meta.id}" already exists; choose another --batch id`, { source: meta.id });
  await ctx.redis.sadd(k.all, meta.id);
  for (let i = 0; i < jobs.length; i += 500) {
    await ctx.queue.addBulk(jobs.slice(i, i + 500).map((data, j) => ({ name: data.kind, data, opts: { ...JOB_OPTIONS, jobId: jobId(meta.id, i + j) } })));
  }
  return full;
}

export interface BatchStatus {
  readonly id: string;
  readonly jobs: number;
  readonly done: number;
  readonly failed: number;
  readonly pending: number;
  readonly cancelled: boolean;
  /** Completed jobs per second since the first job started. */
  readonly rate: number;
  readonly etaSec: number | undefined;
  readonly failures: readonly FailedJob[];
}

export async function batchStatus(ctx: QueueContext, id: string): Promise<BatchStatus> {
  const meta = await readMeta(ctx, id);
  const k = keys(ctx.prefix, id);
  const done = await ctx.redis.scard(k.done);
  const failures = Object.values(await ctx.redis.hgetall(k.failed)).map((v) => JSON.parse(v) as FailedJob);
  const secs = meta.startedAt === undefined ? 0 : (Date.now() - meta.startedAt) / 1000;
  const rate = secs > 0 ? done / secs : 0;
  const pending = Math.max(0, meta.jobs - done - failures.length);
  return { id, jobs: meta.jobs, done, failed: failures.length, pending, cancelled: meta.cancelled === true, rate, etaSec: rate > 0 ? pending / rate : undefined, failures };
}

/** Puts dead-lettered jobs back in the queue (their attempts start again). */
export async function retryFailed(ctx: QueueContext, id: string): Promise<number> {
  await readMeta(ctx, id);
  const k = keys(ctx.prefix, id);
  let n = 0;
  for (const jid of await ctx.redis.hkeys(k.failed)) {
    const job = await ctx.queue.getJob(jid);
    await ctx.redis.hdel(k.failed, jid);
    if (job === undefined || !(await job.isFailed())) continue;
    await job.retry('failed');
    n++;
  }
  return n;
}

/** Stops a batch: removes its waiting and delayed jobs; workers skip its jobs still in flight. */
export async function cancelBatch(ctx: QueueContext, id: string): Promise<{ removed: number }> {
  const meta = await readMeta(ctx, id);
  await ctx.redis.hset(keys(ctx.prefix, id).meta, 'cancelled', '1');
  let removed = 0;
  for (let i = 0; i < meta.jobs; i++) {
    const job = await ctx.queue.getJob(jobId(id, i));
    if (job === undefined) continue;
    const state = await job.getState();
    if (state === 'waiting' || state === 'delayed' || state === 'prioritized' || state === 'waiting-children') {
      await job.remove().catch(() => undefined); // taken by a worker meanwhile: it sees `cancelled`
      removed++;
    }
  }
  return { removed };
}
