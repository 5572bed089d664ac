import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { BatchError, isFacesenseError, OptionError } from '../core/errors.js';
import { analysisOptionsFromArgs, ANALYSIS_USAGE } from '../batch/options.js';
import { batchInputs } from '../batch/inputs.js';
import { formatDuration } from '../batch/progress.js';
import { exportRecords } from '../results/records.js';
import { openSink, type SinkSpec } from '../results/sink.js';
import { batchStatus, cancelBatch, checkBatchId, DEFAULT_QUEUE, openQueue, readMeta, retryFailed, submitBatch, type JobData } from '../queue/batches.js';
import { planSegments, stitchSegments, summariseFrames, toFrameResults, type SegmentAnalysisOptions, type SegmentResult } from '../queue/segments.js';
import { probeVideo } from '../node/video/probe.js';
import { videoCsvHeader, videoCsvRow } from '../core/video/rows.js';
import { parseSmoothing } from '../core/video/smooth.js';
import { csvLine } from '../core/format.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import { checkOutputDir } from '../io/outputs.js';
import { ANALYSIS_ARGS, segmentOptions } from './options.js';

/** A batch's video sampling and tracking flags, with `facesense video`'s bounds. */
function segmentAnalysisFromArgs(values: { fps?: string | undefined; every?: string | undefined; 'detect-every'?: string | undefined; smooth?: string | undefined; iou?: string | undefined; 'max-missed'?: string | undefined }): SegmentAnalysisOptions {
  const fps = parseNumberOption('fps', values.fps, RULES.fps);
  const every = parseNumberOption('every', values.every, RULES.every);
  const detectEvery = parseNumberOption('detect-every', values['detect-every'], RULES.detectEvery);
  const iou = parseNumberOption('iou', values.iou, RULES.iouThreshold);
  const maxMissed = parseNumberOption('max-missed', values['max-missed'], RULES.maxMissed);
  return {
    ...(fps === undefined ? {} : { fps }),
    ...(every === undefined ? {} : { every }),
    ...(detectEvery === undefined ? {} : { detectEvery }),
    ...(values.smooth === undefined ? {} : { smoothing: parseSmoothing(values.smooth) }),
    tracker: { ...(iou === undefined ? {} : { iouThreshold: iou }), ...(maxMissed === undefined ? {} : { maxMissed }) },
  };
}

const VIDEO_EXTENSIONS = new Set(['.mp4', '.mov', '.mkv', '.avi', '.webm', '.m4v', '.mpg', '.mpeg', '.ts']);

const SUBMIT_USAGE = `Usage: facesense batch submit <files|dirs|list.txt|videos>... --redis URL (--postgres URL | --out DIR) [options]

Enqueues a batch on BullMQ: one job per image (or per --chunk images) and per video segment.
Workers (\`facesense worker --redis URL\`, any number, any machine) process it.

SHARED STORAGE: jobs carry paths, not pixels. Every input must be readable by every worker at the
same absolute path (NFS, SMB, a cluster filesystem, or one machine), and so must --out. Inputs are
checked here: a missing one stops the submission. A worker that cannot read one fails that job with
the typed error (INPUT_NOT_FOUND, ...), which then shows in \`batch status\`.

Options:
  --redis URL             Redis of the queue, e.g. redis://host:6379 (required)
  --postgres URL          results into PostgreSQL (tables facesense_images, facesense_faces,
                          facesense_segments); keep the password out of the URL (PGPASSWORD on
                          the workers): the URL is stored in Redis for the workers
  --out DIR               results as files in DIR/<batch>/ on shared storage (instead of --postgres)
  --batch ID              batch id (default: generated)
  --chunk N               images per job (default: 1; larger chunks cost less queue traffic per
                          image, but a crash redoes the whole chunk and a poison image becomes an
                          error record instead of a dead-lettered job)
  --segment-sec S         video segment length (default: 60)
  --overlap-sec S         seconds each segment also analyses before its start, to link tracks
                          (default: 0.5)
  --fps X, --every N, --detect-every N, --smooth SPEC, --iou X, --max-missed N
                          video sampling and tracking, as in \`facesense video\`
  --queue NAME            queue name (default: ${DEFAULT_QUEUE})
${ANALYSIS_USAGE}`;

const common = { redis: { type: 'string' }, queue: { type: 'string', default: DEFAULT_QUEUE }, help: { type: 'boolean', short: 'h', default: false } } as const;

export async function runBatchQueue(sub: string, args: string[]): Promise<number> {
  if (sub === 'submit') return submit(args);
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...common, format: { type: 'string', default: 'csv' }, out: { type: 'string' }, videos: { type: 'string' }, watch: { type: 'boolean', default: false } },
  });
  if (values.help || positionals.length !== 1) {
    process.stdout.write(`Usage: facesense batch ${sub} BATCH --redis URL${sub === 'results' ? ' [--format csv|jsonl] [--out FILE] [--videos DIR]' : sub === 'status' ? ' [--watch]' : ''}\n`);
    return values.help ? 0 : 2;
  }
  if (values.redis === undefined) throw new OptionError('--redis URL is required');
  const id = checkBatchId(positionals[0]!);
  const ctx = openQueue(values.redis, values.queue);
  try {
    switch (sub) {
      case 'status': {
        for (;;) {
          const s = await batchStatus(ctx, id);
          process.stdout.write(
            `batch ${id}: ${s.done}/${s.jobs} jobs done, ${s.failed} failed, ${s.pending} pending${s.cancelled ? ' (cancelled)' : ''}; ` +
              `${s.rate.toFixed(2)} jobs/s${s.etaSec === undefined ? '' : `, eta ${formatDuration(s.etaSec)}`}\n`,
          );
          for (const f of s.failures) process.stdout.write(`  failed ${f.jobId} [${f.code}] ${f.message}\n`);
          if (!values.watch || s.pending === 0 || s.cancelled) return s.failed > 0 ? 1 : 0;
          await new Promise((r) => setTimeout(r, 5000));
        }
      }
      case 'retry-failed': {
        const n = await retryFailed(ctx, id);
        process.stdout.write(`batch ${id}: ${n} failed job(s) back in the queue\n`);
        return 0;
      }
      case 'cancel': {
        const { removed } = await cancelBatch(ctx, id);
        process.stdout.write(`batch ${id}: cancelled, ${removed} waiting job(s) removed; results so far are kept\n`);
        return 0;
      }
      case 'results':
        return await results(ctx, id, values);
      default:
        throw new OptionError(`unknown batch command "${sub}"`);
    }
  } finally {
    await ctx.close();
  }
}

async function results(ctx: ReturnType<typeof openQueue>, id: string, values: { format: string; out?: string | undefined; videos?: string | undefined }): Promise<number> {
  const format = values.format;
  if (format !== 'csv' && format !== 'jsonl') throw new OptionError(`--format must be csv or jsonl (got "${format}")`);
  const meta = await readMeta(ctx, id);
  const sink = await openSink(meta.sink);
  try {
    const out = values.out === undefined ? process.stdout : createWriteStream(values.out);
    const write = (s: string) => new Promise<void>((res, rej) => (out.write(s) ? res() : out.once('drain', res).once('error', rej)));
    const n = meta.images > 0 ? await exportRecords(sink.readImages(id), format, meta.tasks ?? [], write) : 0;
    if (out !== process.stdout) await new Promise<void>((res) => (out as NodeJS.WritableStream).end(res));
    process.stderr.write(`batch ${id}: ${n} image record(s) of ${meta.images} input(s)\n`);
    if (meta.videos > 0) {
      if (values.videos === undefined) process.stderr.write(`batch ${id} has ${meta.videos} video(s): give --videos DIR for their stitched rows and summaries\n`);
      else await writeVideos(id, values.videos, await sink.readSegments(id), meta.tasks ?? []);
    }
    return 0;
  } finally {
    await sink.close();
  }
}

/** Per video: stitched per-frame rows (CSV, as `facesense video`) and the per-track summary. */
async function writeVideos(id: string, dir: string, segments: { source: string; data: unknown }[], tasks: readonly { task: string; labels: readonly string[] }[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  const bySource = new Map<string, SegmentResult[]>();
  for (const s of segments) bySource.set(s.source, [...(bySource.get(s.source) ?? []), s.data as SegmentResult]);
  for (const [source, segs] of bySource) {
    const { frames, links } = stitchSegments(segs);
    const name = basename(source, extname(source));
    const rows = toFrameResults(frames, { widthPx: 0, heightPx: 0 }).flatMap((fr) => fr.faces.map((f) => csvLine(videoCsvRow(fr, f, tasks))));
    await writeFile(join(dir, `${name}.csv`), `${[csvLine(videoCsvHeader(tasks)), ...rows].join('\n')}\n`);
    const damage = segs.map((s) => s.damage).filter((d) => d !== undefined);
    await writeFile(join(dir, `${name}.summary.json`), `${JSON.stringify({ source, batch: id, segments: segs.length, trackLinks: links, ...summariseFrames(frames), ...(damage.length === 0 ? {} : { damage }) }, null, 2)}\n`);
  }
}

async function submit(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...common,
      ...ANALYSIS_ARGS,
      postgres: { type: 'string' },
      out: { type: 'string' },
      batch: { type: 'string' },
      chunk: { type: 'string' },
      'segment-sec': { type: 'string' },
      'overlap-sec': { type: 'string' },
      fps: { type: 'string' },
      every: { type: 'string' },
      'detect-every': { type: 'string' },
      smooth: { type: 'string' },
      iou: { type: 'string' },
      'max-missed': { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(`${SUBMIT_USAGE}\n`);
    return 0;
  }
  if (values.redis === undefined) throw new OptionError('--redis URL is required');
  if ((values.postgres === undefined) === (values.out === undefined)) throw new OptionError('give exactly one of --postgres URL and --out DIR for the results');
  if (positionals.length === 0) throw new OptionError('give at least one input');
  const analysis = analysisOptionsFromArgs(values);
  const chunk = parseNumberOption('chunk', values.chunk, RULES.chunk) ?? 1;
  const { segmentSec, overlapSec } = segmentOptions(values['segment-sec'], values['overlap-sec']);
  const video = segmentAnalysisFromArgs(values);
  const sink: SinkSpec = values.postgres !== undefined ? { kind: 'postgres', url: values.postgres } : { kind: 'files', dir: resolve(values.out!) };
  // The shared results directory is checked (created) before anything is enqueued.
  if (sink.kind === 'files') await checkOutputDir('--out', sink.dir);
  // Workers run elsewhere: paths are made absolute, and every input must exist now.
  const images: string[] = [];
  const videos: string[] = [];
  const missing: string[] = [];
  for await (const e of batchInputs(positionals)) {
    if ('error' in e) missing.push(`${e.error.message} [${e.error.code}]`);
    else (VIDEO_EXTENSIONS.has(extname(e.path).toLowerCase()) ? videos : images).push(resolve(e.path));
  }
  if (missing.length > 0) {
    for (const m of missing.slice(0, 20)) process.stderr.write(`error: ${m}\n`);
    throw new BatchError('INPUT_NOT_FOUND', `${missing.length} input(s) cannot be read; nothing was submitted`);
  }
  const id = checkBatchId(values.batch ?? `b${new Date().toISOString().replace(/[-:TZ.]/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`);
  const jobs: JobData[] = [];
  for (let i = 0; i < images.length; i += chunk) jobs.push({ batchId: id, kind: 'images', paths: images.slice(i, i + chunk) });
  for (const path of videos) {
    // A video that cannot be probed is still one job: its worker fails it with the typed code (dead-lettered, shown by
    // `batch status`), instead of one bad file refusing the whole submission after the others were checked.
    const info = await probeVideo(path).catch((e: unknown) => {
      if (!isFacesenseError(e)) throw e;
      process.stderr.write(`warning: ${e.message} [${e.code}]: queued as one job, which will fail\n`);
      return { durationMs: undefined };
    });
    const plan = planSegments((info.durationMs ?? 0) / 1000, segmentSec, overlapSec);
    for (const segment of plan) jobs.push({ batchId: id, kind: 'video-segment', path, segment: { ...segment, endSec: Number.isFinite(segment.endSec) ? segment.endSec : 1e9 }, segments: plan.length });
  }
  const ctx = openQueue(values.redis, values.queue);
  try {
    const meta = await submitBatch(ctx, { id, createdAt: new Date().toISOString(), analysis, video, sink, images: images.length, videos: videos.length }, jobs);
    process.stdout.write(`${id}\n`);
    process.stderr.write(`batch ${id}: ${meta.jobs} job(s) queued (${images.length} image(s) in chunks of ${chunk}, ${videos.length} video(s)); results to ${sink.kind === 'files' ? join(sink.dir, id) : 'PostgreSQL'}\n`);
  } finally {
    await ctx.close();
  }
  return 0;
}
