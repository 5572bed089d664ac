/**
 * Streaming analysis of video frames for live use: `analyzeFrame(frame, timestampMs)` keeps the
 * tracking and smoothing state between calls (MediaPipe's `detectForVideo` contract).
 *
 * With `detectEvery: N` the detector runs on every Nth frame only; the frames between are
 * classified at the boxes and landmarks the tracked faces had at the last detection, unmoved. That
 * saves the detector's time on those frames (YuNet is most of a frame's cost: 11.5 of ~15 ms at
 * 640×480 in the README's benchmark), so throughput rises, but a detection frame takes as long as
 * before: budget for it when latency matters. The cost is accuracy: the crop lags the face by up
 * to N − 1 frames, so a moving head is aligned from stale landmarks and scored worse, a face that
 * appears is found up to N − 1 frames late, and one that leaves is still reported until the next
 * detection.
 */
import type { Analyzer, FaceResult, ImageResult, StageTimings } from '../analyzer.js';
import type { DetectOptions } from '../detect/types.js';
import { OptionError } from '../errors.js';
import type { TaskResult } from '../postprocess.js';
import type { Detection, RawImage } from '../types.js';
import { DEFAULT_SMOOTHING, smoothStep, type SmootherState, type SmoothingSpec } from './smooth.js';
import { DEFAULT_TRACKER_OPTIONS, initialTrackerState, updateTracks, type TrackerOptions, type TrackerState } from './tracker.js';

export interface FrameAnalyzerOptions {
  /** Run the detector on every Nth frame; the frames between are track-only. @default 1 */
  readonly detectEvery?: number;
  /** Tracker settings. @default DEFAULT_TRACKER_OPTIONS (IoU ≥ 0.3, 5 missed detection rounds) */
  readonly tracker?: Partial<TrackerOptions>;
  /** Per-track smoothing of every task's scores. @default DEFAULT_SMOOTHING (ema:0.3) */
  readonly smoothing?: SmoothingSpec;
  /** Detection options for every frame (the analyzer's defaults otherwise). */
  readonly detect?: Partial<DetectOptions>;
  /** Mirror-image test-time augmentation. @default the analyzer's setting */
  readonly tta?: boolean;
  /** Name used in error messages and results. @default '<frame>' */
  readonly sourceName?: string;
}

export const DEFAULT_DETECT_EVERY = 1;

export interface TrackedFace extends FaceResult {
  readonly trackId: number;
  /** True when the box comes from the detector on this frame; false on track-only frames. */
  readonly detected: boolean;
  /** The track's smoothed results; `attributes` keeps this frame's raw ones. */
  readonly smoothed: Readonly<Record<string, TaskResult>>;
}

export interface FrameResult {
  /** Calls since creation (or `reset()`), from 0. */
  readonly frameIndex: number;
  readonly timestampMs: number;
  /** Whether the detector ran on this frame. */
  readonly detectionRan: boolean;
  readonly widthPx: number;
  readonly heightPx: number;
  /** Faces of tracks seen at the latest detection, ordered by track id. */
  readonly faces: readonly TrackedFace[];
  /** Tracks that ended on this frame (not detected for more than `maxMissed` detection rounds). */
  readonly endedTrackIds: readonly number[];
  readonly timings: StageTimings;
}

export interface FrameAnalyzer {
  /**
   * Analyses one frame. Timestamps must not decrease; tracking and smoothing take the calls one
   * at a time, in order. With `detectEvery` 1 the frame's analysis itself starts at the call, so
   * several calls in flight overlap on an analyzer that runs in parallel (createAnalyzerPool).
   */
  analyzeFrame(frame: RawImage, timestampMs: number): Promise<FrameResult>;
  /** Forgets every track (ids keep counting up), e.g. before a new video. */
  reset(): void;
}

interface State {
  tracker: TrackerState<Detection>;
  smoothers: Map<number, SmootherState>;
  frameIndex: number;
  lastTimestampMs: number;
}

export function createFrameAnalyzer(analyzer: Analyzer, options: FrameAnalyzerOptions = {}): FrameAnalyzer {
  const detectEvery = options.detectEvery ?? DEFAULT_DETECT_EVERY;
  if (!Number.isInteger(detectEvery) || detectEvery < 1) throw new OptionError(`detectEvery must be an integer ≥ 1 (got ${detectEvery})`);
  const trackerOpts: TrackerOptions = { ...DEFAULT_TRACKER_OPTIONS, ...options.tracker };
  if (!(trackerOpts.iouThreshold >= 0 && trackerOpts.iouThreshold <= 1)) throw new OptionError(`tracker.iouThreshold must be in [0, 1] (got ${trackerOpts.iouThreshold})`);
  if (!Number.isInteger(trackerOpts.maxMissed) || trackerOpts.maxMissed < 0) throw new OptionError(`tracker.maxMissed must be an integer ≥ 0 (got ${trackerOpts.maxMissed})`);
  const smoothing = options.smoothing ?? DEFAULT_SMOOTHING;
  const sourceName = options.sourceName ?? '<frame>';
  const callOpts = { sourceName, ...(options.detect === undefined ? {} : { detect: options.detect }), ...(options.tta === undefined ? {} : { tta: options.tta }) };

  const fresh = (nextId: number): State => ({ tracker: initialTrackerState(nextId), smoothers: new Map(), frameIndex: 0, lastTimestampMs: -Infinity });
  let state = fresh(1);
  let queue: Promise<unknown> = Promise.resolve();

  async function step(frame: RawImage, timestampMs: number, started: Promise<ImageResult> | undefined): Promise<FrameResult> {
    if (!Number.isFinite(timestampMs) || timestampMs < state.lastTimestampMs) {
      throw new OptionError(`${sourceName}: timestampMs must be finite and must not decrease between analyzeFrame calls (got ${timestampMs} after ${state.lastTimestampMs}); call reset() to start a new video`);
    }
    const s = state;
    const detectionRan = s.frameIndex % detectEvery === 0;
    let tracked: { id: number; face: FaceResult; detected: boolean }[];
    let endedTrackIds: number[] = [];
    let result;
    if (detectionRan) {
      result = await (started ?? analyzer.analyze(frame, callOpts));
      const dets = result.faces.map((f): Detection => ({ boxPx: f.boxPx, score: f.score, ...(f.landmarksPx === undefined ? {} : { landmarksPx: f.landmarksPx }) }));
      const stepped = updateTracks(s.tracker, dets, trackerOpts);
      s.tracker = stepped.state;
      endedTrackIds = stepped.ended.map((t) => t.id);
      for (const id of endedTrackIds) s.smoothers.delete(id);
      tracked = result.faces.map((face, i) => ({ id: stepped.ids[i]!, face, detected: true }));
    } else {
      // Track-only frame: classify at the last detected box and landmarks of each live track.
      const live = s.tracker.tracks.filter((t) => t.missed === 0);
      result = await analyzer.analyze(frame, { ...callOpts, detections: live.map((t) => t.last) });
      tracked = result.faces.map((face, i) => ({ id: live[i]!.id, face, detected: false }));
    }
    const faces: TrackedFace[] = tracked
      .sort((a, b) => a.id - b.id)
      .map(({ id, face, detected }) => {
        const { state: next, smoothed } = smoothStep(smoothing, s.smoothers.get(id), face.attributes);
        s.smoothers.set(id, next);
        return { ...face, trackId: id, detected, smoothed };
      });
    const out: FrameResult = { frameIndex: s.frameIndex, timestampMs, detectionRan, widthPx: result.widthPx, heightPx: result.heightPx, faces, endedTrackIds, timings: result.timings };
    s.frameIndex++;
    s.lastTimestampMs = timestampMs;
    return out;
  }

  return {
    analyzeFrame(frame, timestampMs) {
      // With detection on every frame, a frame's analysis needs nothing from the frames before it,
      // so it starts at once: an analyzer that runs calls side by side (a worker pool) works on
      // every frame in flight, while tracking and smoothing still take the frames one at a time,
      // in call order. (Track-only frames need the tracks of the frames before: they wait.)
      const started = detectEvery === 1 ? analyzer.analyze(frame, callOpts) : undefined;
      started?.catch(() => undefined); // awaited by its step; until then not an unhandled rejection
      const run = queue.then(() => step(frame, timestampMs, started));
      queue = run.catch(() => undefined);
      return run;
    },
    reset() {
      state = fresh(state.tracker.nextId);
    },
  };
}
