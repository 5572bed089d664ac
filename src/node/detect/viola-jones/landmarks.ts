/**
 * Five landmarks for a Viola–Jones face box: eyes from an eye cascade when it finds them, the
 * rest (and missing eyes) from the proportions of a mean face inside the box.
 *
 * Mean-face proportions, as fractions of the box (the stock frontal-face cascade gives square
 * boxes from mid-forehead to just below the mouth):
 * - eyes at (0.33, 0.41) and (0.67, 0.41): the eye-cascade hit centres measured on this project's
 *   test photos (shared/media single_face.jpg and multi_face.jpg: x 0.32–0.35 and 0.65–0.67,
 *   y 0.39–0.43 of the box), made symmetric;
 * - nose tip and mouth corners placed from those eyes with the ratios of the 5-point ArcFace
 *   alignment template (Deng et al. 2019, insightface `arcface_dst`: eyes (38.29, 51.70) and
 *   (73.53, 51.50), nose (56.03, 71.74), mouth (41.55, 92.37) and (70.73, 92.20) in 112×112):
 *   nose 0.571 inter-ocular distances below the eyes, mouth corners 1.155 below and ±0.414
 *   either side of the centre line. With an inter-ocular distance of 0.34 box widths that is
 *   nose (0.50, 0.60) and mouth (0.36, 0.80), (0.64, 0.80).
 */
import type { Box, Landmarks5, Point } from '../../../core/types.js';
import type { GroupedRect } from './group.js';

export const MEAN_FACE: Landmarks5 = Object.freeze({
  rightEye: Object.freeze({ x: 0.33, y: 0.41 }),
  leftEye: Object.freeze({ x: 0.67, y: 0.41 }),
  nose: Object.freeze({ x: 0.5, y: 0.6 }),
  rightMouth: Object.freeze({ x: 0.36, y: 0.8 }),
  leftMouth: Object.freeze({ x: 0.64, y: 0.8 }),
});

/**
 * The part of a face box searched for eyes, as fractions of the box. Eye-cascade boxes centred
 * at 0.41 of the face reach down to ~0.58, so the band runs a little past the upper half;
 * excluding the lower part keeps nostrils and mouth corners — the eye cascade's usual false
 * hits — out of the search.
 */
export const EYE_SEARCH_BAND = Object.freeze({ top: 0.15, bottom: 0.6 });

/** Eye-cascade hits accepted as eyes: centre inside the band, size 10–45 % of the face width. */
const EYE_MIN_SIZE = 0.1;
const EYE_MAX_SIZE = 0.45;
/** Eyes further out of level than this (|dy| / dx, i.e. ~31° of roll) are not a pair. */
const MAX_EYE_SLOPE = 0.6;

/**
 * Pick the two eyes among eye-cascade hits (boxes in image pixels) for face `box`. The best
 * supported hit (most neighbours) on each side of the box's centre line wins. Returns image-left
 * (`right`) and image-right (`left`) eye centres; either is undefined when not found.
 */
export function pickEyes(box: Box, hits: readonly GroupedRect[]): { right?: Point; left?: Point } {
  const midX = box.x + box.width / 2;
  let best: { right?: GroupedRect; left?: GroupedRect } = {};
  for (const h of hits) {
    const cx = h.x + h.width / 2;
    const cy = h.y + h.height / 2;
    const rel = (cy - box.y) / box.height;
    const size = h.width / box.width;
    if (rel < EYE_SEARCH_BAND.top || rel > EYE_SEARCH_BAND.bottom || size < EYE_MIN_SIZE || size > EYE_MAX_SIZE) continue;
    const side = cx < midX ? 'right' : 'left';
    const current = best[side];
    if (current === undefined || h.neighbors > current.neighbors) best = { ...best, [side]: h };
  }
  const centre = (r: GroupedRect): Point => ({ x: r.x + r.width / 2, y: r.y + r.height / 2 });
  const right = best.right === undefined ? undefined : centre(best.right);
  const left = best.left === undefined ? undefined : centre(best.left);
  if (right !== undefined && left !== undefined) {
    const dx = left.x - right.x;
    if (dx > 0 && Math.abs(left.y - right.y) <= MAX_EYE_SLOPE * dx) return { right, left };
    // Not a plausible pair: keep the better supported one.
    return (best.right?.neighbors ?? 0) >= (best.left?.neighbors ?? 0) ? { right } : { left };
  }
  return right !== undefined ? { right } : left !== undefined ? { left } : {};
}

/**
 * Landmarks for `box`: found eyes where given (a single found eye is mirrored across the box's
 * centre line for the other), mean-face eyes otherwise, mean-face nose and mouth. Every point is
 * clamped into the box.
 */
export function synthesiseLandmarks(box: Box, eyes: { right?: Point; left?: Point } = {}): Landmarks5 {
  const at = (p: Point): Point => ({ x: box.x + p.x * box.width, y: box.y + p.y * box.height });
  const mirror = (p: Point): Point => ({ x: 2 * (box.x + box.width / 2) - p.x, y: p.y });
  const right = eyes.right ?? (eyes.left !== undefined ? mirror(eyes.left) : at(MEAN_FACE.rightEye));
  const left = eyes.left ?? (eyes.right !== undefined ? mirror(eyes.right) : at(MEAN_FACE.leftEye));
  const clamp = (p: Point): Point => ({
    x: Math.min(Math.max(p.x, box.x), box.x + box.width),
    y: Math.min(Math.max(p.y, box.y), box.y + box.height),
  });
  return {
    rightEye: clamp(right),
    leftEye: clamp(left),
    nose: clamp(at(MEAN_FACE.nose)),
    rightMouth: clamp(at(MEAN_FACE.rightMouth)),
    leftMouth: clamp(at(MEAN_FACE.leftMouth)),
  };
}
