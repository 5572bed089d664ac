/**
 * Per-track summary of a video and the time series the timeline draws, accumulated frame by
 * frame in memory that does not grow with the video's length (the series are thinned by
 * averaging neighbours once they reach `maxPoints`).
 */
import type { TaskResult } from '../postprocess.js';
import type { QualityReason } from '../quality.js';
import type { FrameResult } from './stream.js';

export type TaskSummary =
  /** Class tasks (expression): share of the track's sampled frames per smoothed label, mean raw probabilities. */
  | { readonly kind: 'class'; readonly dominant: string; readonly share: Readonly<Record<string, number>>; readonly meanScores: Readonly<Record<string, number>> }
  | { readonly kind: 'value'; readonly mean: number }
  | { readonly kind: 'scores'; readonly means: Readonly<Record<string, number>> };

export interface TrackSummary {
  readonly trackId: number;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly durationMs: number;
  /** Sampled frames the track appears on. */
  readonly frames: number;
  /** Of those, frames where the detector found it (the rest are track-only frames). */
  readonly detectedFrames: number;
  readonly meanDetectionScore: number;
  readonly tasks: Readonly<Record<string, TaskSummary>>;
  /**
   * The quality flags over the track: of the frames with a quality assessment (faces with
   * landmarks), how many were unreliable, their share, and the frames each reason applied to.
   */
  readonly quality: {
    readonly assessedFrames: number;
    readonly unreliableFrames: number;
    readonly unreliableShare: number;
    readonly reasons: Readonly<Partial<Record<QualityReason, number>>>;
  };
}

/** Consecutive unreliable frames of a track: from the first frame's time to the last's, with the reasons seen. */
export interface UnreliableSpan {
  readonly startMs: number;
  readonly endMs: number;
  readonly reasons: readonly QualityReason[];
}

/** A class task's probabilities over time for one track, thinned to at most `maxPoints`. */
export interface Series {
  readonly task: string;
  readonly labels: readonly string[];
  /** [timeMs, smoothed probability per label..., raw probability per label...] */
  readonly points: readonly (readonly number[])[];
}

export interface TrackTimeline {
  readonly trackId: number;
  readonly series: readonly Series[];
  /** Where the track's faces were unreliable (at most `maxPoints` spans: the closest merge first). */
  readonly unreliable: readonly UnreliableSpan[];
}

interface TaskAcc {
  kind: TaskResult['kind'];
  n: number;
  sums: Record<string, number>;
  labelCounts: Record<string, number>;
}

interface SeriesAcc {
  labels: string[];
  points: number[][];
  /** Frames averaged into each point; doubles at every thinning. */
  stride: number;
  pending: number[][];
}

interface TrackAcc {
  firstMs: number;
  lastMs: number;
  frames: number;
  detectedFrames: number;
  scoreSum: number;
  tasks: Map<string, TaskAcc>;
  series: Map<string, SeriesAcc>;
  assessed: number;
  unreliable: number;
  reasons: Partial<Record<QualityReason, number>>;
  spans: { startMs: number; endMs: number; reasons: Set<QualityReason> }[];
  /** The last frame of this track was unreliable: the next unreliable frame extends the last span. */
  spanOpen: boolean;
}

/** Keeps at most `max` spans by merging the two neighbours with the smallest gap between them. */
function boundSpans(spans: TrackAcc['spans'], max: number): void {
  while (spans.length > max) {
    let best = 0;
    for (let i = 1; i + 1 < spans.length; i++) if (spans[i + 1]!.startMs - spans[i]!.endMs < spans[best + 1]!.startMs - spans[best]!.endMs) best = i;
    const [a, b] = [spans[best]!, spans[best + 1]!];
    spans.splice(best, 2, { startMs: a.startMs, endMs: b.endMs, reasons: new Set([...a.reasons, ...b.reasons]) });
  }
}

function mean(rows: readonly (readonly number[])[]): number[] {
  return rows[0]!.map((_, i) => rows.reduce((a, r) => a + r[i]!, 0) / rows.length);
}

function pushPoint(s: SeriesAcc, p: number[], maxPoints: number): void {
  s.pending.push(p);
  if (s.pending.length < s.stride) return;
  s.points.push(mean(s.pending));
  s.pending = [];
  if (s.points.length >= maxPoints) {
    const thinned: number[][] = [];
    for (let i = 0; i + 1 < s.points.length; i += 2) thinned.push(mean([s.points[i]!, s.points[i + 1]!]));
    if (s.points.length % 2 === 1) s.pending = [s.points[s.points.length - 1]!];
    s.points = thinned;
    s.stride *= 2;
  }
}

function numbers(r: TaskResult): Readonly<Record<string, number>> {
  switch (r.kind) {
    case 'class':
    case 'multilabel':
      return r.scores;
    case 'value':
      return { value: r.value };
    case 'values':
      return r.values;
  }
}

export interface VideoSummaryAccumulator {
  add(frame: FrameResult): void;
  readonly framesAnalysed: number;
  readonly framesWithFaces: number;
  tracks(): TrackSummary[];
  timelines(): TrackTimeline[];
}

export function createSummaryAccumulator(options: { maxPoints?: number } = {}): VideoSummaryAccumulator {
  const maxPoints = Math.max(4, options.maxPoints ?? 2000);
  const byTrack = new Map<number, TrackAcc>();
  let framesAnalysed = 0;
  let framesWithFaces = 0;
  return {
    add(frame) {
      framesAnalysed++;
      if (frame.faces.length > 0) framesWithFaces++;
      for (const f of frame.faces) {
        let t = byTrack.get(f.trackId);
        if (t === undefined) {
          t = { firstMs: frame.timestampMs, lastMs: frame.timestampMs, frames: 0, detectedFrames: 0, scoreSum: 0, tasks: new Map(), series: new Map(), assessed: 0, unreliable: 0, reasons: {}, spans: [], spanOpen: false };
          byTrack.set(f.trackId, t);
        }
        t.lastMs = frame.timestampMs;
        t.frames++;
        if (f.detected) t.detectedFrames++;
        t.scoreSum += f.score;
        if (f.quality !== undefined) {
          t.assessed++;
          if (f.quality.reliable) t.spanOpen = false;
          else {
            t.unreliable++;
            for (const r of f.quality.reasons) t.reasons[r] = (t.reasons[r] ?? 0) + 1;
            const last = t.spans[t.spans.length - 1];
            if (t.spanOpen && last !== undefined) {
              last.endMs = frame.timestampMs;
              f.quality.reasons.forEach((r) => last.reasons.add(r));
            } else {
              t.spans.push({ startMs: frame.timestampMs, endMs: frame.timestampMs, reasons: new Set(f.quality.reasons) });
              boundSpans(t.spans, maxPoints);
            }
            t.spanOpen = true;
          }
        }
        for (const [task, r] of Object.entries(f.attributes)) {
          let a = t.tasks.get(task);
          if (a === undefined) t.tasks.set(task, (a = { kind: r.kind, n: 0, sums: {}, labelCounts: {} }));
          a.n++;
          for (const [k, v] of Object.entries(numbers(r))) a.sums[k] = (a.sums[k] ?? 0) + v;
          const sm = f.smoothed[task];
          if (r.kind !== 'class' || sm?.kind !== 'class') continue;
          a.labelCounts[sm.label] = (a.labelCounts[sm.label] ?? 0) + 1;
          let s = t.series.get(task);
          if (s === undefined) t.series.set(task, (s = { labels: Object.keys(r.scores), points: [], stride: 1, pending: [] }));
          pushPoint(s, [frame.timestampMs, ...s.labels.map((l) => sm.scores[l] ?? 0), ...s.labels.map((l) => r.scores[l] ?? 0)], maxPoints);
        }
      }
    },
    get framesAnalysed() {
      return framesAnalysed;
    },
    get framesWithFaces() {
      return framesWithFaces;
    },
    tracks() {
      return [...byTrack.entries()].map(([trackId, t]): TrackSummary => {
        const tasks: Record<string, TaskSummary> = {};
        for (const [task, a] of t.tasks) {
          const means = Object.fromEntries(Object.entries(a.sums).map(([k, v]) => [k, v / a.n]));
          if (a.kind === 'class') {
            const counted = Object.values(a.labelCounts).reduce((x, y) => x + y, 0);
            const share = Object.fromEntries(Object.keys(means).map((l) => [l, counted === 0 ? 0 : (a.labelCounts[l] ?? 0) / counted]));
            const dominant = Object.keys(share).reduce((best, l) => (share[l]! > share[best]! ? l : best), Object.keys(share)[0] ?? '');
            tasks[task] = { kind: 'class', dominant, share, meanScores: means };
          } else if (a.kind === 'value') {
            tasks[task] = { kind: 'value', mean: means.value ?? Number.NaN };
          } else {
            tasks[task] = { kind: 'scores', means };
          }
        }
        const quality = { assessedFrames: t.assessed, unreliableFrames: t.unreliable, unreliableShare: t.assessed === 0 ? 0 : t.unreliable / t.assessed, reasons: { ...t.reasons } };
        return { trackId, firstMs: t.firstMs, lastMs: t.lastMs, durationMs: t.lastMs - t.firstMs, frames: t.frames, detectedFrames: t.detectedFrames, meanDetectionScore: t.scoreSum / t.frames, tasks, quality };
      });
    },
    timelines() {
      return [...byTrack.entries()].map(([trackId, t]) => ({
        trackId,
        series: [...t.series.entries()].map(([task, s]) => ({ task, labels: s.labels, points: s.pending.length > 0 ? [...s.points, mean(s.pending)] : s.points })),
        unreliable: t.spans.map((sp) => ({ startMs: sp.startMs, endMs: sp.endMs, reasons: [...sp.reasons] })),
      }));
    },
  };
}
