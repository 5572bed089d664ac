import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type DetectorName } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { OptionError } from '../core/errors.js';
import { csvLine } from './format.js';
import { detectOptions, optionalNumber } from './options.js';
import { checkOutputFile } from '../io/outputs.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import { createProgress } from './progress.js';
import { openVideo, type SamplingOptions } from '../node/video/decode.js';
import { createAnnotatedVideoWriter, type AnnotatedVideoWriter } from '../node/video/encode.js';
import { videoCsvHeader, videoCsvRow, videoJsonRow } from '../core/video/rows.js';
import { DEFAULT_SMOOTHING, formatSmoothing, parseSmoothing } from '../core/video/smooth.js';
import { createFrameAnalyzer, DEFAULT_DETECT_EVERY } from '../core/video/stream.js';
import { loadSequenceModel, parseSequenceWindow, type LoadedSequenceModel, type TrackSequencer, createTrackSequencer, type TrackSequenceResult } from '../node/video/sequence.js';
import { createSummaryAccumulator } from '../core/video/summary.js';
import { timelineHtml } from '../core/video/timeline.js';
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
  --format csv|jsonl      per-frame rows, one per tracked face (default: csv)
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
  --threads N             ONNX Runtime threads per model (default: one per core)
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
  if (format !== 'csv' && format !== 'jsonl') throw new OptionError(`--format must be csv or jsonl (got "${format}")`);
  if (!['yunet', 'yunet-640', 'viola-jones'].includes(values.detector)) throw new OptionError(`--detector must be yunet, yunet-640 or viola-jones (got "${values.detector}"); tracking needs a detector`);
  const fps = parseNumberOption('fps', values.fps, { min: 0, exclusiveMin: true, max: 1000 });
  const every = parseNumberOption('every', values.every, { min: 1, max: 1_000_000, integer: true });
  const startSec = optionalNumber('start', values.start);
  const endSec = optionalNumber('end', values.end);
  const sampling: SamplingOptions = { ...(fps === undefined ? {} : { fps }), ...(every === undefined ? {} : { every }), ...(startSec === undefined ? {} : { startSec }), ...(endSec === undefined ? {} : { endSec }) };
  const smoothing = values.smooth === undefined ? DEFAULT_SMOOTHING : parseSmoothing(values.smooth);
  const detectEvery = optionalNumber('detect-every', values['detect-every']);
  const iou = optionalNumber('iou', values.iou);
  const maxMissed = optionalNumber('max-missed', values['max-missed']);
  const threads = parseNumberOption('threads', values.threads, RULES.threads);
  const detect = detectOptions(values);
  // Every output location is checked before the video is probed or a model loaded.
  for (const [option, path] of [['--out', values.out], ['--summary', values.summary], ['--timeline', values.timeline], ['--annotate', values.annotate]] as const) {
    if (path !== undefined) await checkOutputFile(option, path);
  }

  if (values['sequence-window'] !== undefined && values['sequence-model'] === undefined) throw new OptionError('--sequence-window needs --sequence-model');
  const store = values['models-dir'] === undefined ? {} : { modelsDir: values['models-dir'] };

  // Probe before loading models: a file that is not a video fails in milliseconds.
  const reader = await openVideo(file, sampling);
  const { info } = reader;
  const seq: LoadedSequenceModel | undefined =
    values['sequence-model'] === undefined ? undefined : await loadSequenceModel(values['sequence-model'], store, threads === undefined ? {} : { threads });
  const models = [...(values.model ?? []), ...(seq === undefined ? [] : [seq.frameModelPath])];
  const analyzer = await createAnalyzer({
    detector: values.detector as DetectorName,
    ...(values.tasks === undefined ? {} : { tasks: values.tasks.split(',').map((t) => t.trim()).filter(Boolean) }),
    ...(models.length === 0 ? {} : { models }),
    ...(threads === undefined ? {} : { threads }),
    detect,
    tta: values.tta,
    embeddings: seq !== undefined,
    store,
  }).catch(async (e: unknown) => {
    await seq?.classifier.dispose();
    throw e;
  });
  const sequenceWindow = seq === undefined ? undefined : parseSequenceWindow(values['sequence-window'], seq.classifier.manifest.window);
  const sequencer: TrackSequencer | undefined = seq === undefined || sequenceWindow === undefined ? undefined : createTrackSequencer(seq.classifier, seq.frameModelId, sequenceWindow);
  let trackSequences: TrackSequenceResult[] = [];
  const frames = createFrameAnalyzer(analyzer, {
    ...(detectEvery === undefined ? {} : { detectEvery }),
    tracker: { ...(iou === undefined ? {} : { iouThreshold: iou }), ...(maxMissed === undefined ? {} : { maxMissed }) },
    smoothing,
    sourceName: file,
  });
  const tasks = sequencer === undefined || sequenceWindow === 'track' ? analyzer.tasks : [...analyzer.tasks, { task: sequencer.task, labels: sequencer.labels }];
  const acc = createSummaryAccumulator();
  const out = values.out === undefined ? process.stdout : createWriteStream(values.out);
  // A reader that stops early (`| head`) closes stdout: stop analysing instead of crashing.
  let outClosed = false;
  let outError: Error | undefined;
  out.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE' && out === process.stdout) outClosed = true;
    else outError ??= e;
  });
  const write = async (s: string) => {
    if (outError !== undefined) throw outError;
    if (outClosed || out.write(s)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        out.off('drain', done).off('error', done);
        resolve();
      };
      out.on('drain', done).on('error', done);
    });
  };
  let writer: AnnotatedVideoWriter | undefined;
  let rows = 0;
  const t0 = Date.now();
  const span = ((endSec ?? (info.durationMs ?? 0) / 1000) - (startSec ?? 0)) * (reader.sampledFps ?? 0);
  const progress = createProgress('video', span > 0 ? Math.round(span) : undefined);
  let ok = false;
  try {
    if (values.annotate !== undefined) writer = await createAnnotatedVideoWriter(values.annotate, { widthPx: info.widthPx, heightPx: info.heightPx, fps: reader.sampledFps ?? 25 });
    if (format === 'csv') await write(`${csvLine(videoCsvHeader(tasks))}\n`);
    for await (const frame of reader) {
      if (outClosed) break;
      const analysed = await frames.analyzeFrame(frame.image, frame.timestampMs);
      const r = sequencer === undefined ? analysed : await sequencer.step(analysed);
      acc.add(r);
      for (const f of r.faces) {
        rows++;
        await write(format === 'csv' ? `${csvLine(videoCsvRow(r, f, tasks))}\n` : `${JSON.stringify(videoJsonRow(r, f))}\n`);
      }
      await writer?.write(frame.image, r.faces);
      progress.tick();
    }
    await writer?.close();
    trackSequences = (await sequencer?.finish()) ?? [];
    ok = true;
  } finally {
    progress.done();
    if (!ok) writer?.abort();
    await analyzer.dispose();
    await seq?.classifier.dispose();
    if (out !== process.stdout && !outClosed) await new Promise<void>((res) => (out as NodeJS.WritableStream).end(res));
  }

  const wholeTrack = new Map(trackSequences.map((t) => [t.trackId, t]));
  const tracks = acc.tracks().map((t) => {
    const w = wholeTrack.get(t.trackId);
    return w === undefined || sequencer === undefined ? t : { ...t, sequence: { task: sequencer.task, frames: w.frames, ...w.result } };
  });
  const damage = reader.damage;
  const notes: string[] = [];
  if (acc.framesAnalysed === 0) notes.push(`no frames in the chosen range of ${file} (video is ${((info.durationMs ?? 0) / 1000).toFixed(2)} s long)`);
  else if (tracks.length === 0) notes.push(`no faces found in ${file}: ${acc.framesAnalysed} frames analysed, outputs are empty`);
  if (damage !== undefined) notes.push(`${damage.message} [${damage.code}]`);
  const secs = (Date.now() - t0) / 1000;
  if (values.summary !== undefined) {
    const summary = {
      source: file,
      video: info,
      sampling: { ...sampling, sampledFps: reader.sampledFps ?? null, detectEvery: detectEvery ?? DEFAULT_DETECT_EVERY, smoothing: formatSmoothing(smoothing) },
      tasks: analyzer.tasks.map((t) => ({ task: t.task, model: t.model })),
      ...(seq === undefined || sequencer === undefined
        ? {}
        : { sequenceModel: { id: seq.classifier.manifest.id, task: sequencer.task, frameModel: seq.frameModelId, window: sequenceWindow, labels: sequencer.labels } }),
      framesAnalysed: acc.framesAnalysed,
      framesWithFaces: acc.framesWithFaces,
      tracks,
      ...(damage === undefined ? {} : { damage: damage.toJSON() }),
      ...(notes.length === 0 ? {} : { notes }),
    };
    await writeFile(values.summary, `${JSON.stringify(summary, null, 2)}\n`);
  }
  if (values.timeline !== undefined) {
    await writeFile(values.timeline, timelineHtml({ source: file, durationMs: info.durationMs, smoothing: formatSmoothing(smoothing), tracks, timelines: acc.timelines(), notes }));
  }
  for (const n of notes) process.stderr.write(`${damage !== undefined && n.endsWith(`[${damage.code}]`) ? 'warning: ' : ''}${n}\n`);
  process.stderr.write(
    `video ${file}: ${info.widthPx}×${info.heightPx}${info.rotationDeg === 0 ? '' : ` (rotated ${info.rotationDeg}°)`}, ${acc.framesAnalysed} frames analysed, ` +
      `${tracks.length} track(s), ${rows} face rows in ${secs.toFixed(1)} s (${(acc.framesAnalysed / Math.max(secs, 1e-3)).toFixed(1)} frames/s; ` +
      `tasks ${analyzer.tasks.map((t) => `${t.task}←${t.model}`).join(', ') || 'none: no attribute model installed'}` +
      `${seq === undefined || sequencer === undefined ? '' : `, ${sequencer.task}←${seq.classifier.manifest.id} over ${sequenceWindow === 'track' ? 'whole tracks' : `${sequenceWindow}-frame windows`}`})\n`,
  );
  return values.strict && damage !== undefined ? 1 : 0;
}
