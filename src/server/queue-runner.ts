/**
 * `facesense serve --redis`: video jobs analysed by the queue's workers instead of in the server.
 * An upload is one batch on the BullMQ queue (src/queue/batches.ts), one job per time segment;
 * `facesense worker` processes on any machine analyse the segments and write them to
 * `<dataDir>/queue-results` (files: the upload and the results are on storage every worker shares).
 * The server watches the batch, and once every segment is in, stitches their tracks
 * (src/queue/segments.ts) and hands the frames to the job manager, which writes the rows, summary
 * and timeline as for a job run in process.
 */
import { join } from 'node:path';
import { FacesenseError, isFacesenseError, OptionError, type ErrorCode } from '../core/errors.js';
import { createSummaryAccumulator } from '../core/video/summary.js';
import { DEFAULT_SMOOTHING } from '../core/video/smooth.js';
import { videoReport } from '../jobs/video.js';
import { sampledFpsOf } from '../node/video/decode.js';
import { probeVideo } from '../node/video/probe.js';
import type { BatchAnalysisOptions } from '../batch/options.js';
import { batchStatus, cancelBatch, keys, openQueue, readMeta, submitBatch, type JobData, type QueueContext } from '../queue/batches.js';
import { planSegments, stitchSegments, toFrameResults, type SegmentAnalysisOptions, type SegmentResult } from '../queue/segments.js';
import { openSink, type SinkSpec } from '../results/sink.js';
import type { AnalyzerPool } from './pool.js';
import { STOP, type VideoRunner } from './jobs.js';

export interface QueueRunnerOptions {
  readonly url: string;
  /** BullMQ queue. @default the workers' default, `facesense` */
  readonly name?: string;
  /** @default 60 */
  readonly segmentSec?: number;
  /** @default 0.5 */
  readonly overlapSec?: number;
}

/** A job's batch id: its UUID without dashes (batch ids are letters, digits, `_`, `.`). */
export const batchOfJob = (id: string) => `srv_${id.replaceAll('-', '')}`;

/** How often the server looks at a batch's progress. */
const POLL_MS = 500;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export function createQueueRunner(
  o: QueueRunnerOptions & {
    /** The server's --data-dir (absolute; shared with the workers): segment results go to its queue-results/. */
    readonly dataDir: string;
    readonly pool: AnalyzerPool;
    readonly pixelLimit?: number;
    readonly modelsDir?: string;
    readonly maxDurationSec?: number;
  },
): VideoRunner & { readonly queue: QueueContext['queue'] } {
  const ctx = openQueue(o.url, o.name);
  const sink: SinkSpec = { kind: 'files', dir: join(o.dataDir, 'queue-results') };
  const segmentSec = o.segmentSec ?? 60;
  const overlapSec = o.overlapSec ?? 0.5;

  return {
    queue: ctx.queue,
    check(v) {
      // What the workers do not do: they analyse segments, not whole videos with a copy or a sequence model.
      if (v.annotate) throw new OptionError('annotate is not available on a server whose video jobs run on a queue (--redis); run facesense video --annotate');
      if (v.sequenceModel !== undefined) throw new OptionError('sequence-model is not available on a server whose video jobs run on a queue (--redis); run facesense video --sequence-model');
    },
    async run(job, dir, v, signal, hooks) {
      const t0 = Date.now();
      const id = batchOfJob(job.id);
      const input = join(dir, 'input');
      // Probed here (a file that is not a video fails at once) and again after a restart: the summary needs it.
      const probed = await probeVideo(input);
      const info = { ...probed, source: job.source };
      const startSec = v.sampling.startSec ?? 0;
      const endSec = v.sampling.endSec ?? (info.durationMs ?? 0) / 1000;
      const span = endSec - startSec;
      if (o.maxDurationSec !== undefined && span > o.maxDurationSec) {
        throw new FacesenseError('DURATION_LIMIT_EXCEEDED', `the video (range) is ${span.toFixed(1)} s long, over the limit of ${o.maxDurationSec} s`, { source: job.source });
      }
      const video: SegmentAnalysisOptions = {
        ...(v.sampling.fps === undefined ? {} : { fps: v.sampling.fps }),
        ...(v.sampling.every === undefined ? {} : { every: v.sampling.every }),
        ...(v.detectEvery === undefined ? {} : { detectEvery: v.detectEvery }),
        ...(v.smoothing === undefined ? {} : { smoothing: v.smoothing }),
        tracker: { ...(v.iou === undefined ? {} : { iouThreshold: v.iou }), ...(v.maxMissed === undefined ? {} : { maxMissed: v.maxMissed }) },
      };
      const exists = await readMeta(ctx, id).then(
        () => true,
        (e: unknown) => {
          if (isFacesenseError(e) && e.code === 'BATCH_NOT_FOUND') return false;
          throw e;
        },
      );
      // A job the server watched before a restart is already on the queue: it is watched again, not submitted twice.
      if (!exists) {
        const full = o.pool.withDefaults(v.choice);
        const analysis: BatchAnalysisOptions = {
          detector: full.detector ?? 'yunet',
          ...(full.tasks === undefined ? {} : { tasks: full.tasks }),
          ...(full.models === undefined ? {} : { models: full.models }),
          ...(Object.keys(v.detect).length === 0 ? {} : { detect: v.detect }),
          ...(o.pixelLimit === undefined ? {} : { pixelLimit: o.pixelLimit }),
          tta: v.tta ?? false,
          ...(o.modelsDir === undefined ? {} : { modelsDir: o.modelsDir }),
        };
        // Segments of the chosen range; the last one runs to the end of the range (or of the file).
        const plan = planSegments(span, segmentSec, overlapSec);
        const jobs: JobData[] = plan.map((s, i) => ({
          batchId: id,
          kind: 'video-segment',
          path: input,
          segment: { ...s, startSec: s.startSec + startSec, endSec: i < plan.length - 1 ? s.endSec + startSec : (v.sampling.endSec ?? 1e9) },
          segments: plan.length,
        }));
        await submitBatch(ctx, { id, createdAt: new Date().toISOString(), analysis, video, sink, images: 0, videos: 1 }, jobs);
      }

      let total = 0;
      for (;;) {
        if (signal.aborted) {
          if (signal.reason === STOP.cancel) await cancelBatch(ctx, id);
          // On shutdown the workers go on: the next start watches the batch again.
          throw new FacesenseError('CANCELLED', signal.reason === STOP.cancel ? 'cancelled by the client' : 'the server stopped');
        }
        const [s, meta] = await Promise.all([batchStatus(ctx, id), readMeta(ctx, id)]);
        total = s.jobs;
        const failure = s.failures[0];
        if (failure !== undefined) {
          // One segment that cannot be analysed fails the video, as a damaged file fails an in-process job.
          await cancelBatch(ctx, id);
          const code: ErrorCode = failure.code === 'TRANSIENT' ? 'WORKER_CRASHED' : failure.code;
          throw new FacesenseError(code, failure.code === 'TRANSIENT' ? `a segment failed on every retry: ${failure.message}` : failure.message, { source: job.source });
        }
        await hooks.onProgress({ state: meta.startedAt === undefined ? 'queued' : 'running', segments: { done: s.done, total: s.jobs } });
        if (s.done >= s.jobs) break;
        await sleep(POLL_MS, signal);
      }

      const results = await openSink(sink);
      let segments: SegmentResult[];
      let tasks;
      try {
        segments = (await results.readSegments(id)).filter((x) => x.source === input).map((x) => x.data as SegmentResult);
        tasks = (await readMeta(ctx, id)).tasks ?? [];
      } finally {
        await results.close();
      }
      if (segments.length !== total) throw new FacesenseError('WORKER_CRASHED', `${segments.length} of ${total} segment results are in ${sink.dir}; is --data-dir shared with every worker?`, { source: job.source });
      const { frames } = stitchSegments(segments);
      const acc = createSummaryAccumulator();
      await hooks.onStart(tasks, frames.length);
      let faceRows = 0;
      for (const f of toFrameResults(frames, { widthPx: info.widthPx, heightPx: info.heightPx })) {
        acc.add(f);
        faceRows += f.faces.length;
        await hooks.onFrame(f);
      }
      const damaged = segments.map((x) => x.damage).find((d) => d !== undefined);
      const damage = damaged === undefined ? undefined : new FacesenseError(damaged.code as ErrorCode, damaged.message, { source: job.source });
      const report = videoReport({
        name: job.source,
        info,
        sampling: v.sampling,
        sampledFps: sampledFpsOf(info, v.sampling),
        detectEvery: v.detectEvery,
        smoothing: v.smoothing ?? DEFAULT_SMOOTHING,
        tasks,
        acc,
        damage,
      });
      const tracks = acc.tracks();
      return { summary: report.summary, timelineHtml: report.timelineHtml, framesAnalysed: acc.framesAnalysed, trackCount: tracks.length, faceRows, seconds: (Date.now() - t0) / 1000, notes: report.notes, damage };
    },
    async remove(jobId) {
      const id = batchOfJob(jobId);
      const results = await openSink(sink);
      try {
        await results.drop(id);
      } finally {
        await results.close();
      }
      const k = keys(ctx.prefix, id);
      await ctx.redis.del(k.meta, k.done, k.failed);
      await ctx.redis.srem(k.all, id);
    },
    close: () => ctx.close(),
  };
}
