/**
 * Long videos as time segments processed in parallel, then stitched into one video's tracks.
 *
 * Segment k analyses [start_k − overlap, end_k): the overlap frames before its own range warm up
 * its tracker and smoothers and are used only to link its tracks to segment k−1's, which owns
 * those frames. A local track of segment k continues the segment k−1 track whose boxes it
 * overlaps most on the shared frames (mean IoU ≥ threshold, greedy one-to-one: the tracker's own
 * rule, src/video/tracker.ts); an unlinked track starts a new id. The stitched frames go through
 * the same summary accumulator as `facesense video`.
 */
import type { Analyzer, FaceResult } from '../core/analyzer.js';
import { iou } from '../core/detect/nms.js';
import type { TaskResult } from '../core/postprocess.js';
import type { Box } from '../core/types.js';
import { openVideo, type SamplingOptions } from '../node/video/decode.js';
import { createFrameAnalyzer, type FrameAnalyzerOptions, type FrameResult, type TrackedFace } from '../core/video/stream.js';
import { createSummaryAccumulator, type TrackSummary } from '../core/video/summary.js';
import { matchGreedy } from '../core/video/tracker.js';

export interface SegmentPlan {
  readonly index: number;
  /** The segment's own range, seconds. */
  readonly startSec: number;
  readonly endSec: number;
  /** Seconds analysed before startSec to link tracks (0 for the first segment). */
  readonly overlapSec: number;
}

export function planSegments(durationSec: number, segmentSec: number, overlapSec: number): SegmentPlan[] {
  const n = Math.max(1, Math.ceil(durationSec / segmentSec - 1e-9));
  return Array.from({ length: n }, (_, i) => ({
    index: i,
    startSec: i * segmentSec,
    // The last segment runs to the end of the file whatever the probed duration says.
    endSec: i === n - 1 ? Number.POSITIVE_INFINITY : (i + 1) * segmentSec,
    overlapSec: i === 0 ? 0 : Math.min(overlapSec, i * segmentSec),
  }));
}

/** One face on one frame of a segment, in a compact serialisable form. */
export interface SegmentFace {
  readonly track: number;
  readonly boxPx: Box;
  readonly score: number;
  readonly detected: boolean;
  readonly attributes: Readonly<Record<string, TaskResult>>;
  readonly smoothed: Readonly<Record<string, TaskResult>>;
  readonly skipped?: FaceResult['skipped'];
  /** Kept so that stitched rows carry what a single-process run's rows carry. */
  readonly landmarksPx?: FaceResult['landmarksPx'];
  readonly quality?: FaceResult['quality'];
}

export interface SegmentFrame {
  readonly timestampMs: number;
  readonly faces: readonly SegmentFace[];
}

export interface SegmentResult {
  readonly plan: SegmentPlan;
  readonly frames: readonly SegmentFrame[];
  readonly damage?: { readonly code: string; readonly message: string };
}

export type SegmentAnalysisOptions = Omit<FrameAnalyzerOptions, 'sourceName'> & { readonly fps?: number; readonly every?: number };

/** `signal` stops the decoder (the segment then throws ABORTED): a cancelled batch's running segments stop early. */
export async function analyzeSegment(analyzer: Analyzer, path: string, plan: SegmentPlan, o: SegmentAnalysisOptions = {}, signal?: AbortSignal): Promise<SegmentResult> {
  const from = plan.startSec - plan.overlapSec;
  const sampling: SamplingOptions = {
    ...(o.fps === undefined ? {} : { fps: o.fps }),
    ...(o.every === undefined ? {} : { every: o.every }),
    ...(from > 0 ? { startSec: from } : {}),
    ...(Number.isFinite(plan.endSec) ? { endSec: plan.endSec } : {}),
    ...(signal === undefined ? {} : { signal }),
  };
  const reader = await openVideo(path, sampling);
  const { fps: _fps, every: _every, ...frameOpts } = o;
  void _fps;
  void _every;
  const fa = createFrameAnalyzer(analyzer, { ...frameOpts, sourceName: path });
  const frames: SegmentFrame[] = [];
  for await (const f of reader) {
    const r = await fa.analyzeFrame(f.image, f.timestampMs);
    frames.push({ timestampMs: r.timestampMs, faces: r.faces.map((x) => ({ track: x.trackId, boxPx: x.boxPx, score: x.score, detected: x.detected, attributes: x.attributes, smoothed: x.smoothed, ...(x.skipped === undefined ? {} : { skipped: x.skipped }), ...(x.landmarksPx === undefined ? {} : { landmarksPx: x.landmarksPx }), ...(x.quality === undefined ? {} : { quality: x.quality }) })) });
  }
  const damage = reader.damage;
  return { plan, frames, ...(damage === undefined ? {} : { damage: { code: damage.code, message: damage.message } }) };
}

/**
 * The same frame decoded by two ffmpeg runs (one seeking) gets timestamps a few hundredths of a
 * millisecond apart (showinfo rounds pts_time): frames are matched within this tolerance.
 */
const SAME_FRAME_MS = 2;

/** Index of the frame whose time is within SAME_FRAME_MS of `t` in time-sorted `frames`, or -1. */
function frameAt(frames: readonly { readonly timestampMs: number }[], t: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const d = frames[mid]!.timestampMs - t;
    if (Math.abs(d) <= SAME_FRAME_MS) return mid;
    if (d < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Frames of one video with tracks linked across segment boundaries; ids numbered from 1 in order of appearance. */
export function stitchSegments(segments: readonly SegmentResult[], iouThreshold = 0.3): { frames: SegmentFrame[]; links: number } {
  const sorted = [...segments].sort((a, b) => a.plan.index - b.plan.index);
  let nextId = 1;
  let links = 0;
  let prevMap = new Map<number, number>(); // previous segment: local id → global id
  let prevFrames: readonly SegmentFrame[] = []; // previous segment's frames, local ids
  let lastMs = Number.NEGATIVE_INFINITY; // the last frame emitted: later segments continue after it
  const out: SegmentFrame[] = [];
  for (const seg of sorted) {
    const map = new Map<number, number>();
    // Frames this segment shares with the previous one: its warm-up, up to the last frame emitted.
    const shared = seg.frames.filter((f) => f.timestampMs <= lastMs + SAME_FRAME_MS).map((f) => ({ mine: f, prev: prevFrames[frameAt(prevFrames, f.timestampMs)] }));
    const prevIds = [...new Set(shared.flatMap((p) => p.prev?.faces.map((x) => x.track) ?? []))];
    const myIds = [...new Set(shared.flatMap((p) => p.mine.faces.map((x) => x.track)))];
    // Link: mean IoU over the shared frames where either track is present.
    const scores = prevIds.map((p) =>
      myIds.map((q) => {
        let sum = 0;
        let n = 0;
        for (const { mine, prev } of shared) {
          const a = prev?.faces.find((x) => x.track === p)?.boxPx;
          const b = mine.faces.find((x) => x.track === q)?.boxPx;
          if (a === undefined && b === undefined) continue;
          n++;
          if (a !== undefined && b !== undefined) sum += iou(a, b);
        }
        return n === 0 ? 0 : sum / n;
      }),
    );
    for (const [pi, qi] of matchGreedy(scores, Math.max(iouThreshold, Number.MIN_VALUE))) {
      const g = prevMap.get(prevIds[pi]!);
      if (g === undefined) continue;
      map.set(myIds[qi]!, g);
      links++;
    }
    for (const f of seg.frames) {
      if (f.timestampMs <= lastMs + SAME_FRAME_MS) continue;
      const faces = f.faces.map((x) => {
        let g = map.get(x.track);
        if (g === undefined) map.set(x.track, (g = nextId++));
        return { ...x, track: g };
      });
      out.push({ timestampMs: f.timestampMs, faces: faces.sort((a, b) => a.track - b.track) });
      lastMs = f.timestampMs;
    }
    prevMap = map;
    prevFrames = seg.frames;
  }
  return { frames: out, links };
}

/** FrameResults for the summary accumulator and the video row writers. */
export function toFrameResults(frames: readonly SegmentFrame[], size: { widthPx: number; heightPx: number }): FrameResult[] {
  return frames.map((f, i) => ({
    frameIndex: i,
    timestampMs: f.timestampMs,
    detectionRan: f.faces.some((x) => x.detected),
    ...size,
    faces: f.faces.map((x): TrackedFace => ({
      boxPx: x.boxPx,
      score: x.score,
      ...(x.landmarksPx === undefined ? {} : { landmarksPx: x.landmarksPx }),
      alignment: { rollDeg: 0, eyeDistancePx: Number.NaN },
      attributes: x.attributes,
      trackId: x.track,
      detected: x.detected,
      smoothed: x.smoothed,
      ...(x.skipped === undefined ? {} : { skipped: x.skipped }),
      ...(x.quality === undefined ? {} : { quality: x.quality }),
    })),
    endedTrackIds: [],
    timings: { decodeMs: 0, detectMs: 0, alignMs: 0, inferMs: 0, totalMs: 0 },
  }));
}

export function summariseFrames(frames: readonly SegmentFrame[]): { framesAnalysed: number; framesWithFaces: number; tracks: TrackSummary[] } {
  const acc = createSummaryAccumulator();
  for (const f of toFrameResults(frames, { widthPx: 0, heightPx: 0 })) acc.add(f);
  return { framesAnalysed: acc.framesAnalysed, framesWithFaces: acc.framesWithFaces, tracks: acc.tracks() };
}

/** How a stitched run differs from a single-process run of the same video (the track-boundary effects). */
export interface StitchComparison {
  readonly framesSingle: number;
  readonly framesStitched: number;
  readonly tracksSingle: number;
  readonly tracksStitched: number;
  /** Face rows (frame × track) in either run, and how many of them agree on the smoothed class label of each class task. */
  readonly rows: number;
  readonly rowsSameLabel: number;
  /** Largest difference of a per-track mean class score between matched tracks. */
  readonly maxMeanScoreDiff: number;
  /** Matched tracks whose dominant class label differs. */
  readonly dominantChanged: number;
}

export function compareStitched(single: readonly SegmentFrame[], stitched: readonly SegmentFrame[]): StitchComparison {
  const a = summariseFrames(single);
  const b = summariseFrames(stitched);
  // Rows are matched by time and box (IoU ≥ 0.5), since track ids differ between the runs.
  let rows = 0;
  let same = 0;
  const pairs = new Map<string, number>();
  for (const f of single) {
    const g = stitched[frameAt(stitched, f.timestampMs)];
    for (const x of f.faces) {
      rows++;
      const y = g?.faces.find((c) => iou(c.boxPx, x.boxPx) >= 0.5);
      if (y === undefined) continue;
      pairs.set(`${x.track}:${y.track}`, (pairs.get(`${x.track}:${y.track}`) ?? 0) + 1);
      const tasks = Object.keys(x.smoothed).filter((t) => x.smoothed[t]?.kind === 'class');
      const lbl = (r: TaskResult | undefined) => (r?.kind === 'class' ? r.label : undefined);
      if (tasks.every((t) => lbl(x.smoothed[t]) === lbl(y.smoothed[t]))) same++;
    }
  }
  // Each single-run track is matched with the stitched track it shares most rows with.
  let maxDiff = 0;
  let dominantChanged = 0;
  for (const ta of a.tracks) {
    let best: [number, number] | undefined;
    for (const [k, n] of pairs) {
      const [p, q] = k.split(':').map(Number) as [number, number];
      if (p === ta.trackId && (best === undefined || n > best[1])) best = [q, n];
    }
    const tb = best === undefined ? undefined : b.tracks.find((t) => t.trackId === best[0]);
    if (tb === undefined) continue;
    for (const [task, s] of Object.entries(ta.tasks)) {
      const o = tb.tasks[task];
      if (s.kind !== 'class' || o?.kind !== 'class') continue;
      if (s.dominant !== o.dominant) dominantChanged++;
      for (const [l, v] of Object.entries(s.meanScores)) maxDiff = Math.max(maxDiff, Math.abs(v - (o.meanScores[l] ?? 0)));
    }
  }
  return { framesSingle: a.framesAnalysed, framesStitched: b.framesAnalysed, tracksSingle: a.tracks.length, tracksStitched: b.tracks.length, rows, rowsSameLabel: same, maxMeanScoreDiff: maxDiff, dominantChanged };
}
