/**
 * IoU tracker: a detection continues the track whose last box it overlaps most (Bochinski,
 * Eiselein & Sikora, "High-speed tracking-by-detection without using image information", AVSS
 * 2017), with greedy matching on IoU and tolerance for a few missed detection rounds.
 *
 * There is no appearance model and no motion model: a face that leaves the picture (or is
 * missed for more than `maxMissed` detection rounds) and comes back gets a new id. Pure: the state
 * is a plain value; `updateTracks` returns the next one.
 */
import { iou } from '../detect/nms.js';
import type { Box } from '../types.js';

export interface TrackerOptions {
  /** Least IoU between a track's last box and a detection for the detection to continue it. @default 0.3 */
  readonly iouThreshold: number;
  /** A track not matched for more than this many consecutive detection rounds ends. @default 5 */
  readonly maxMissed: number;
}

export const DEFAULT_TRACKER_OPTIONS: TrackerOptions = Object.freeze({ iouThreshold: 0.3, maxMissed: 5 });

export interface Track<T> {
  readonly id: number;
  /** The detection that last matched this track. */
  readonly last: T;
  /** Consecutive detection rounds without a match (0: matched in the latest round). */
  readonly missed: number;
  /** Detection rounds that matched this track. */
  readonly hits: number;
}

export interface TrackerState<T> {
  readonly tracks: readonly Track<T>[];
  /** The id the next new track gets; ids are never reused. */
  readonly nextId: number;
}

export interface TrackerStep<T> {
  readonly state: TrackerState<T>;
  /** Track id of each detection, in the order given. */
  readonly ids: readonly number[];
  /** Tracks that ended in this round (missed more than `maxMissed` rounds). */
  readonly ended: readonly Track<T>[];
}

export function initialTrackerState<T>(firstId = 1): TrackerState<T> {
  return { tracks: [], nextId: firstId };
}

/**
 * Greedy assignment: repeatedly takes the remaining (row, column) pair with the highest score at
 * or above `threshold`. Ties go to the lower row, then the lower column, so results are
 * deterministic. Returns `[row, column]` pairs.
 */
export function matchGreedy(scores: readonly (readonly number[])[], threshold: number): [number, number][] {
  const pairs: { r: number; c: number; s: number }[] = [];
  scores.forEach((row, r) => row.forEach((s, c) => s >= threshold && pairs.push({ r, c, s })));
  pairs.sort((a, b) => b.s - a.s || a.r - b.r || a.c - b.c);
  const usedR = new Set<number>();
  const usedC = new Set<number>();
  const out: [number, number][] = [];
  for (const { r, c } of pairs) {
    if (usedR.has(r) || usedC.has(c)) continue;
    usedR.add(r);
    usedC.add(c);
    out.push([r, c]);
  }
  return out;
}

/** One detection round: matches `detections` to live tracks, starts new tracks, ends stale ones. */
export function updateTracks<T extends { readonly boxPx: Box }>(
  state: TrackerState<T>,
  detections: readonly T[],
  options: TrackerOptions = DEFAULT_TRACKER_OPTIONS,
): TrackerStep<T> {
  const scores = state.tracks.map((t) => detections.map((d) => iou(t.last.boxPx, d.boxPx)));
  // IoU 0 never matches, even with a threshold of 0: disjoint boxes are different faces.
  const matches = matchGreedy(scores, Math.max(options.iouThreshold, Number.MIN_VALUE));
  const trackOf = new Map(matches.map(([t, d]) => [d, t]));
  const matchedTracks = new Set(matches.map(([t]) => t));

  let nextId = state.nextId;
  const ids: number[] = [];
  const tracks: Track<T>[] = [];
  const ended: Track<T>[] = [];
  detections.forEach((d, j) => {
    const ti = trackOf.get(j);
    const prev = ti === undefined ? undefined : state.tracks[ti];
    const track: Track<T> = prev === undefined ? { id: nextId++, last: d, missed: 0, hits: 1 } : { id: prev.id, last: d, missed: 0, hits: prev.hits + 1 };
    ids.push(track.id);
    tracks.push(track);
  });
  state.tracks.forEach((t, i) => {
    if (matchedTracks.has(i)) return;
    const aged = { ...t, missed: t.missed + 1 };
    if (aged.missed > options.maxMissed) ended.push(aged);
    else tracks.push(aged);
  });
  tracks.sort((a, b) => a.id - b.id);
  return { state: { tracks, nextId }, ids, ended };
}
