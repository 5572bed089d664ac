import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import type { DetectorName } from '../core/analyzer.js';
import { OptionError } from '../core/errors.js';
import { runVideoJob, type VideoJobStart } from '../jobs/video.js';
import { csvLine } from '../core/format.js';
import { optionalNumber } from './options.js';
import { analysisOptionsFromArgs, toAnalyzerOptions } from '../batch/options.js';
import { checkOutputFile } from '../io/outputs.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import { openOutput } from './output.js';
import { createProgress } from './progress.js';
import type { SamplingOptions } from '../node/video/decode.js';
import { videoCsvHeader, videoCsvRow, videoJsonLine } from '../core/video/rows.js';
import { DEFAULT_SMOOTHING, formatSmoothing, parseSmoothing } from '../core/video/smooth.js';
import { DEFAULT_DETECT_EVERY } from '../core/video/stream.js';
import { DEFAULT_TRACKER_OPTIONS } from '../core/video/tracker.js';

export const VIDEO_USAGE = `Usage: facesense video <file> [options]

Tracks faces through a video (decoded by ffmpeg) and reads their attributes on every sampled
frame: per-frame rows with raw and smoothed scores, a per-track summary, a timeline, and an
annotated copy of the video.

Options:
  --fps X                 sample X frames per second (default: every frame)
  --every N               keep every Nth frame (default: 1)
  --start S, --end S      analyse from S to E seconds (default: the whole video)
  --detect-every N        run the detector on every Nth sampled frame; frames between are
                          classified at the tracked faces' last boxes (default: ${DEFAULT_DETECT_EVERY})
  --smooth SPEC           ema:ALPHA | window:N | none (default: ${formatSmoothing(DEFAULT_SMOOTHING)})
  --iou X                 least IoU for a detection to continue a track (default: ${DEFAULT_TRACKER_OPTIONS.iouThreshold})
  --max-missed N          detection rounds a track may be missed before it ends (default: ${DEFAULT_TRACKER_OPTIONS.maxMissed})
  --format csv|jsonl|json per-frame rows, one per tracked face (default: csv; json: one array)
  --out FILE              write the rows to FILE (default: stdout)
  --summary FILE.json     per-track summary (duration, dominant expression, share per label, means)
  --timeline FILE.html    one offline HTML page with a chart per track
  --annotate OUT.mp4      the sampled frames with boxes, track ids and smoothed labels
  --tasks a,b             tasks to run (default: every installed default task)
  --model ID|PATH         extra model to load (repeatable)
  --detector NAME         yunet | yunet-640 | viola-jones (default: yunet)
  --score-threshold X     minimum detector score (default: 0.6)
  --max-faces N           at most N faces per frame (default: 100)
  --min-face N            ignore faces smaller than N px (default: 20)
  --sequence-model ID|PATH
                          sequence model (LSTM/GRU over the frame model's embeddings, e.g.
                          emotion-sequence-ckplus): adds <task>_sequence per face and track
  --sequence-window N|track
                          sliding window of each track's last N sampled frames, predicted on
                          every frame (rows, summary); track: one prediction per whole track,
                          in the summary only (default: the model's training length)
  --tta                   average each face with its mirror image
  --workers N             worker threads analysing frames side by side, each with its own
                          models (default: one per core with --detect-every 1, else 1)
  --threads N             ONNX Runtime threads per model (default: 1 with workers, else one
                          per core)
  --models-dir DIR        where models are looked up first (default: $FACESENSE_MODELS)
  --strict                exit 1 when the video is damaged part-way
  -h, --help              this text

A face that leaves the picture (or is missed for more than --max-missed detection rounds) and
comes back gets a new track id: tracking is by box overlap only, with no re-identification.

Exit code: 0 when frames were analysed (also when no face was found, or when the video is damaged
part-way: the frames before the damage are analysed and the damage is reported on stderr and in
the summary), 1 when the video cannot be read, 2 for a usage error.`;

export async function runVideo(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      fps: { type: 'string' },
      every: { type: 'string' },
      start: { type: 'string' },
      end: { type: 'string' },
      'detect-every': { type: 'string' },
      smooth: { type: 'string' },
      iou: { type: 'string' },
      'max-missed': { type: 'string' },
      format: { type: 'string', default: 'csv' },
      out: { type: 'string' },
      summary: { type: 'string' },
      timeline: { type: 'string' },
      annotate: { type: 'string' },
      tasks: { type: 'string' },
      model: { type: 'string', multiple: true },
      detector: { type: 'string', default: 'yunet' },
      'score-threshold': { type: 'string' },
      'max-faces': { type: 'string' },
      'min-face': { type: 'string' },
      tta: { type: 'boolean', default: false },
      'sequence-model': { type: 'string' },
      'sequence-window': { type: 'string' },
      threads: { type: 'string' },
      workers: { type: 'string' },
      'models-dir': { type: 'string' },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${VIDEO_USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new OptionError(`give exactly one video file (got ${positionals.length})`);
  const file = positionals[0]!;
  const format = values.format;
  if (format !== 'csv' && format !== 'jsonl' && format !== 'json') throw new OptionError(`--format must be csv, jsonl or json (got "${format}")`);
  if (!['yunet', 'yunet-640', 'viola-jones'].includes(values.detector)) throw new OptionError(`--detector must be yunet, yunet-640 or viola-jones (got "${values.detector}"); tracking needs a detector`);
  const analysis = analysisOptionsFromArgs(values);
  const fps = parseNumberOption('fps', values.fps, RULES.fps);
  const every = parseNumberOption('every', values.every, RULES.every);
  const startSec = optionalNumber('start', values.start);
  const endSec = optionalNumber('end', values.end);
  const sampling: SamplingOptions = { ...(fps === undefined ? {} : { fps }), ...(every === undefined ? {} : { every }), ...(startSec === undefined ? {} : { startSec }), ...(endSec === undefined ? {} : { endSec }) };
  const smoothing = values.smooth === undefined ? DEFAULT_SMOOTHING : parseSmoothing(values.smooth);
  const detectEvery = optionalNumber('detect-every', values['detect-every']);
  const iou = optionalNumber('iou', values.iou);
  const maxMissed = optionalNumber('max-missed', values['max-missed']);
  const threads = parseNumberOption('threads', values.threads, RULES.threads);
  const workers = parseNumberOption('workers', values.workers, RULES.workers) ?? ((detectEvery ?? DEFAULT_DETECT_EVERY) === 1 ? availableParallelism() : 1);
  // Every output location is checked before the video is probed or a model loaded.
  for (const [option, path] of [['--out', values.out], ['--summary', values.summary], ['--timeline', values.timeline], ['--annotate', values.annotate]] as const) {
    if (path !== undefined) await checkOutputFile(option, path);
  }

  // A reader that stops early (`| head`) closes stdout: stop analysing instead of crashing.
  const out = openOutput(values.out);
  const write = out.write;
  let progress: ReturnType<typeof createProgress> | undefined;
  let tasks: VideoJobStart['tasks'] = [];
  let result;
  let rows = 0;
  try {
    result = await runVideoJob(
      file,
      {
        sampling,
        smoothing,
        ...(detectEvery === undefined ? {} : { detectEvery }),
        tracker: { ...(iou === undefined ? {} : { iouThreshold: iou }), ...(maxMissed === undefined ? {} : { maxMissed }) },
        ...toAnalyzerOptions(analysis, threads),
        workers,
        detector: analysis.detector as Exclude<DetectorName, 'none'>,
        ...(values['sequence-model'] === undefined ? {} : { sequenceModel: values['sequence-model'] }),
        ...(values['sequence-window'] === undefined ? {} : { sequenceWindow: values['sequence-window'] }),
        ...(values.annotate === undefined ? {} : { annotatePath: values.annotate }),
      },
      {
        onStart: async (start) => {
          tasks = start.tasks;
          progress = createProgress('video', start.expectedFrames);
          if (format === 'csv') await write(`${csvLine(videoCsvHeader(tasks))}\n`);
          if (format === 'json') await write('[\n');
        },
        onFrame: async (r) => {
          for (const f of r.faces) {
            rows++;
            const json = videoJsonLine(r, f);
            await write(format === 'csv' ? `${csvLine(videoCsvRow(r, f, tasks))}\n` : format === 'json' ? `${rows > 1 ? ',\n' : ''}${json}` : `${json}\n`);
          }
          progress?.tick();
          return !out.closed;
        },
      },
    );
    if (format === 'json' && !out.closed) await write(`${rows > 0 ? '\n' : ''}]\n`);
  } finally {
    progress?.done();
    await out.end();
  }
  if (values.summary !== undefined) await writeFile(values.summary, `${JSON.stringify(result.summary, null, 2)}\n`);
  if (values.timeline !== undefined) await writeFile(values.timeline, result.timelineHtml());
  const { damage } = result;
  for (const n of result.notes) process.stderr.write(`${damage !== undefined && n.endsWith(`[${damage.code}]`) ? 'warning: ' : ''}${n}\n`);
  process.stderr.write(`${result.description}\n`);
  return values.strict && damage !== undefined ? 1 : 0;
}
