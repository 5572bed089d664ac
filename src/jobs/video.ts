/**
 * Video job: one video → tracked, smoothed per-frame results, a per-track summary and a timeline;
 * optionally an annotated copy. The caller receives each frame through `onFrame` and writes its
 * rows however it likes (the CLI to stdout or a file, the HTTP service into its job directory).
 */
import type { Analyzer, DetectorName } from '../core/analyzer.js';
import type { DetectOptions } from '../core/detect/types.js';
import { FacesenseError, OptionError } from '../core/errors.js';
import { DEFAULT_SMOOTHING, formatSmoothing, type SmoothingSpec } from '../core/video/smooth.js';
import { createFrameAnalyzer, DEFAULT_DETECT_EVERY, type FrameResult } from '../core/video/stream.js';
import { createSummaryAccumulator, type VideoSummaryAccumulator, type TrackSummary } from '../core/video/summary.js';
import { timelineHtml } from '../core/video/timeline.js';
import type { TrackerOptions } from '../core/video/tracker.js';
import type { RgbImage } from '../core/types.js';
import { checkOutputFile } from '../io/outputs.js';
import { createAnalyzer } from '../node/analyzer.js';
import { createAnalyzerPool } from '../node/pool.js';
import type { ModelStoreOptions } from '../node/models/store.js';
import { openVideo, type SamplingOptions } from '../node/video/decode.js';
import { createAnnotatedVideoWriter, type AnnotatedVideoWriter } from '../node/video/encode.js';
import type { VideoInfo } from '../node/video/probe.js';
import { createTrackSequencer, loadSequenceModel, parseSequenceWindow, type LoadedSequenceModel, type TrackSequenceResult, type TrackSequencer } from '../node/video/sequence.js';

export interface VideoJobOptions {
  readonly sampling?: SamplingOptions;
  /** @default DEFAULT_DETECT_EVERY */
  readonly detectEvery?: number;
  /** @default DEFAULT_SMOOTHING */
  readonly smoothing?: SmoothingSpec;
  readonly tracker?: Partial<TrackerOptions>;
  /** Analyzer settings, used when `analyzer` is not given. */
  readonly tasks?: readonly string[];
  readonly models?: readonly string[];
  /** @default 'yunet' (tracking needs a detector) */
  readonly detector?: Exclude<DetectorName, 'none'>;
  readonly detect?: Partial<DetectOptions>;
  readonly tta?: boolean;
  readonly threads?: number;
  /**
   * Worker threads analysing frames side by side (each with its own models), when `analyzer` is
   * not given; tracking, smoothing and the outputs still take the frames in order. Frames are
   * analysed in parallel only with detection on every frame (`detectEvery` 1). @default 1
   */
  readonly workers?: number;
  readonly store?: ModelStoreOptions;
  /** A loaded analyzer to use (not disposed by the job); not with `sequenceModel`, which needs embeddings. */
  readonly analyzer?: Analyzer;
  /** Sequence model id or path (adds `<task>_sequence`). */
  readonly sequenceModel?: string;
  /** `N` or `track` (default: the model's training length). */
  readonly sequenceWindow?: string;
  /** Write the annotated MP4 here (its location is checked before the video is probed). */
  readonly annotatePath?: string;
  /** Name of the video in the summary, notes and messages (a service's upload lives at an internal path). @default the file path */
  readonly sourceName?: string;
  /** Refuse videos longer than this (after `startSec`/`endSec`), before any frame is decoded. */
  readonly maxDurationSec?: number;
}

export interface VideoJobStart {
  readonly info: VideoInfo;
  readonly sampledFps: number | undefined;
  /** Columns of the rows: the analyzer's tasks, plus the sequence task for windowed sequence models. */
  readonly tasks: readonly { readonly task: string; readonly labels: readonly string[] }[];
  /** Frames expected from the sampling and the duration (undefined when unknown). */
  readonly expectedFrames: number | undefined;
}

export interface VideoJobHooks {
  /**
   * Stops after the current frame (the decoder stops too); the job then throws the signal's reason,
   * or ABORTED from the decoder.
   */
  readonly signal?: AbortSignal;
  readonly onStart?: (start: VideoJobStart) => void | Promise<void>;
  /** Each analysed frame; return `false` to stop early (a closed output), which is not an error. */
  readonly onFrame?: (frame: FrameResult) => void | boolean | Promise<void | boolean>;
}

export interface VideoJobResult {
  /** The summary document (`--summary`). */
  readonly summary: Record<string, unknown>;
  /** The timeline page (`--timeline`). */
  timelineHtml(): string;
  readonly info: VideoInfo;
  readonly framesAnalysed: number;
  readonly trackCount: number;
  readonly faceRows: number;
  readonly seconds: number;
  /** Notes for the user (no frames, no faces, damage). */
  readonly notes: readonly string[];
  readonly damage: FacesenseError | undefined;
  /** One line describing the run (what the CLI prints on stderr). */
  readonly description: string;
}

/** The summary document, notes and timeline of an analysed video: `runVideoJob`'s, and those of a video stitched from queue segments (src/server/queue-runner.ts). */
export function videoReport(a: {
  readonly name: string;
  readonly info: VideoInfo;
  readonly sampling: SamplingOptions;
  readonly sampledFps: number | undefined;
  readonly detectEvery: number | undefined;
  readonly smoothing: SmoothingSpec;
  readonly tasks: readonly { readonly task: string; readonly model: string }[];
  readonly acc: VideoSummaryAccumulator;
  /** The accumulator's tracks, with anything added to them. @default acc.tracks() */
  readonly tracks?: readonly TrackSummary[];
  readonly damage: FacesenseError | undefined;
  /** More summary fields, after `tasks`. */
  readonly extra?: Record<string, unknown>;
}): { summary: Record<string, unknown>; notes: string[]; timelineHtml: () => string } {
  const { name, info, acc, damage } = a;
  const tracks = a.tracks ?? acc.tracks();
  const notes: string[] = [];
  if (acc.framesAnalysed === 0) notes.push(`no frames in the chosen range of ${name} (video is ${((info.durationMs ?? 0) / 1000).toFixed(2)} s long)`);
  else if (tracks.length === 0) notes.push(`no faces found in ${name}: ${acc.framesAnalysed} frames analysed, outputs are empty`);
  if (damage !== undefined) notes.push(`${damage.message} [${damage.code}]`);
  const summary = {
    source: name,
    video: info,
    sampling: { ...a.sampling, sampledFps: a.sampledFps ?? null, detectEvery: a.detectEvery ?? DEFAULT_DETECT_EVERY, smoothing: formatSmoothing(a.smoothing) },
    tasks: a.tasks.map((t) => ({ task: t.task, model: t.model })),
    ...a.extra,
    framesAnalysed: acc.framesAnalysed,
    framesWithFaces: acc.framesWithFaces,
    tracks,
    ...(damage === undefined ? {} : { damage: damage.toJSON() }),
    ...(notes.length === 0 ? {} : { notes }),
  };
  const timelines = acc.timelines();
  return { summary, notes, timelineHtml: () => timelineHtml({ source: name, durationMs: info.durationMs, smoothing: formatSmoothing(a.smoothing), tracks, timelines, notes }) };
}

export async function runVideoJob(file: string, o: VideoJobOptions = {}, hooks: VideoJobHooks = {}): Promise<VideoJobResult> {
  if (o.sequenceWindow !== undefined && o.sequenceModel === undefined) throw new OptionError('--sequence-window needs --sequence-model');
  if (o.analyzer !== undefined && o.sequenceModel !== undefined) throw new OptionError('a shared analyzer cannot serve a sequence model (it needs embeddings)');
  const sampling = o.sampling ?? {};
  const smoothing = o.smoothing ?? DEFAULT_SMOOTHING;
  const store = o.store ?? {};
  const { signal } = hooks;
  signal?.throwIfAborted();
  // The output location is checked before any work: a video is not analysed in full only to fail on its copy.
  if (o.annotatePath !== undefined) await checkOutputFile('--annotate', o.annotatePath);

  // Probe before loading models: a file that is not a video fails in milliseconds.
  const reader = await openVideo(file, signal === undefined ? sampling : { ...sampling, signal });
  const name = o.sourceName ?? file;
  const info = name === file ? reader.info : { ...reader.info, source: name };
  const span = (sampling.endSec ?? (info.durationMs ?? 0) / 1000) - (sampling.startSec ?? 0);
  if (o.maxDurationSec !== undefined && span > o.maxDurationSec) {
    throw new FacesenseError('DURATION_LIMIT_EXCEEDED', `the video (range) is ${span.toFixed(1)} s long, over the limit of ${o.maxDurationSec} s`, { source: name });
  }
  const seq: LoadedSequenceModel | undefined = o.sequenceModel === undefined ? undefined : await loadSequenceModel(o.sequenceModel, store, o.threads === undefined ? {} : { threads: o.threads });
  const models = [...(o.models ?? []), ...(seq === undefined ? [] : [seq.frameModelPath])];
  const workers = o.analyzer === undefined ? (o.workers ?? 1) : 1;
  const settings = {
    detector: o.detector ?? 'yunet',
    ...(o.tasks === undefined ? {} : { tasks: o.tasks }),
    ...(models.length === 0 ? {} : { models }),
    ...(o.threads === undefined ? {} : { threads: o.threads }),
    ...(o.detect === undefined ? {} : { detect: o.detect }),
    tta: o.tta ?? false,
    embeddings: seq !== undefined,
    store,
  };
  const analyzer =
    o.analyzer ??
    (await (workers > 1 ? createAnalyzerPool({ ...settings, workers }) : createAnalyzer(settings)).catch(async (e: unknown) => {
      await seq?.classifier.dispose();
      throw e;
    }));
  const ownsAnalyzer = o.analyzer === undefined;
  let writer: AnnotatedVideoWriter | undefined;
  let ok = false;
  try {
    const sequenceWindow = seq === undefined ? undefined : parseSequenceWindow(o.sequenceWindow, seq.classifier.manifest.window);
    const sequencer: TrackSequencer | undefined = seq === undefined || sequenceWindow === undefined ? undefined : createTrackSequencer(seq.classifier, seq.frameModelId, sequenceWindow);
    const frames = createFrameAnalyzer(analyzer, {
      ...(o.detectEvery === undefined ? {} : { detectEvery: o.detectEvery }),
      tracker: o.tracker ?? {},
      smoothing,
      // With a shared analyzer the per-call options carry what a job's own analyzer would have been built with.
      ...(o.analyzer !== undefined && o.detect !== undefined ? { detect: o.detect } : {}),
      ...(o.analyzer !== undefined && o.tta !== undefined ? { tta: o.tta } : {}),
      sourceName: name,
    });
    const tasks = sequencer === undefined || sequenceWindow === 'track' ? analyzer.tasks : [...analyzer.tasks, { task: sequencer.task, labels: sequencer.labels }];
    const expected = span * (reader.sampledFps ?? 0);
    await hooks.onStart?.({ info, sampledFps: reader.sampledFps, tasks, expectedFrames: expected > 0 ? Math.round(expected) : undefined });
    const acc = createSummaryAccumulator();
    let faceRows = 0;
    const t0 = Date.now();
    if (o.annotatePath !== undefined) writer = await createAnnotatedVideoWriter(o.annotatePath, { widthPx: info.widthPx, heightPx: info.heightPx, fps: reader.sampledFps ?? 25 });
    // Frames in flight: with several workers (and detection on every frame) the next frames are
    // analysed while this one is written; everything below takes them in order.
    const inFlight = (o.detectEvery ?? DEFAULT_DETECT_EVERY) === 1 ? 2 * workers : 1;
    const pending: { readonly image: RgbImage; readonly result: Promise<FrameResult> }[] = [];
    /** Writes the oldest frame in flight; false when the caller stops early. */
    const finish = async (): Promise<boolean> => {
      const { image, result } = pending.shift()!;
      const analysed = await result;
      const r = sequencer === undefined ? analysed : await sequencer.step(analysed);
      acc.add(r);
      faceRows += r.faces.length;
      await writer?.write(image, r.faces);
      return (await hooks.onFrame?.(r)) !== false;
    };
    let going = true;
    try {
      for await (const frame of reader) {
        signal?.throwIfAborted();
        const result = frames.analyzeFrame(frame.image, frame.timestampMs);
        result.catch(() => undefined); // awaited in order by finish()
        pending.push({ image: frame.image, result });
        if (pending.length >= inFlight && !(going = await finish())) break;
      }
      while (going && pending.length > 0) going = await finish();
    } finally {
      // Stopped early or failed: the frames still in flight end before the analyzer is disposed.
      await Promise.allSettled(pending.map((p) => p.result));
    }
    await writer?.close();
    const trackSequences: TrackSequenceResult[] = (await sequencer?.finish()) ?? [];
    ok = true;

    const wholeTrack = new Map(trackSequences.map((t) => [t.trackId, t]));
    const tracks = acc.tracks().map((t) => {
      const w = wholeTrack.get(t.trackId);
      return w === undefined || sequencer === undefined ? t : { ...t, sequence: { task: sequencer.task, frames: w.frames, ...w.result } };
    });
    const damage = reader.damage;
    const seconds = (Date.now() - t0) / 1000;
    const report = videoReport({
      name,
      info,
      sampling,
      sampledFps: reader.sampledFps,
      detectEvery: o.detectEvery,
      smoothing,
      tasks: analyzer.tasks,
      acc,
      tracks,
      damage,
      ...(seq === undefined || sequencer === undefined
        ? {}
        : { extra: { sequenceModel: { id: seq.classifier.manifest.id, task: sequencer.task, frameModel: seq.frameModelId, window: sequenceWindow, labels: sequencer.labels } } }),
    });
    const { summary, notes } = report;
    const description =
      `video ${name}: ${info.widthPx}×${info.heightPx}${info.rotationDeg === 0 ? '' : ` (rotated ${info.rotationDeg}°)`}, ${acc.framesAnalysed} frames analysed, ` +
      `${tracks.length} track(s), ${faceRows} face rows in ${seconds.toFixed(1)} s (${(acc.framesAnalysed / Math.max(seconds, 1e-3)).toFixed(1)} frames/s; ` +
      `tasks ${analyzer.tasks.map((t) => `${t.task}←${t.model}`).join(', ') || 'none: no attribute model installed'}` +
      `${seq === undefined || sequencer === undefined ? '' : `, ${sequencer.task}←${seq.classifier.manifest.id} over ${sequenceWindow === 'track' ? 'whole tracks' : `${sequenceWindow}-frame windows`}`})`;
    return {
      summary,
      timelineHtml: report.timelineHtml,
      info,
      framesAnalysed: acc.framesAnalysed,
      trackCount: tracks.length,
      faceRows,
      seconds,
      notes,
      damage,
      description,
    };
  } finally {
    if (!ok) writer?.abort();
    if (ownsAnalyzer) await analyzer.dispose();
    await seq?.classifier.dispose();
  }
}
