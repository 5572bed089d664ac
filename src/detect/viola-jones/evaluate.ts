/**
 * Evaluate a Haar cascade on detection windows, following OpenCV's `HaarEvaluator` and
 * `predictOrderedStump` / `predictOrdered` (modules/objdetect/src/cascadedetect.cpp,
 * cascadedetect.hpp) for OpenCV ≥ 3:
 *
 * - The window is always the cascade's native size; other scales come from evaluating a resized
 *   image (see multiscale.ts), so feature rectangles are never rescaled.
 * - Variance normalisation uses the inner window `normrect = (1, 1, W−2, H−2)`:
 *       nf = sqrt(area · Σx² − (Σx)²),  area = (W−2)(H−2),  varianceNormFactor = float(1 / nf),
 *   and the window is rejected outright when nf ≤ 0 or area / nf ≥ 0.1 (standard deviation of
 *   the inner window ≤ 10 gray levels) — OpenCV's `HaarEvaluator::setWindow`.
 * - A feature value is Σ weight_i · rectSum_i times varianceNormFactor, rounded to float32 as
 *   OpenCV computes it in float; a node goes left when value < threshold.
 * - A stage rejects when the double sum of its leaf values < float(stageThreshold) − 1e-5
 *   (OpenCV's THRESHOLD_EPS, applied when it loads a cascade).
 */
import type { HaarCascade } from './cascade.js';
import { MAX_RECTS_PER_FEATURE } from './cascade.js';
import type { IntegralImage } from './integral.js';

/** Window rejected before any stage ran (too flat, or outside the image). */
export const WINDOW_REJECTED = -1;

/**
 * A cascade bound to one integral-image layout (stride and plane offsets): every rectangle
 * corner becomes a precomputed offset from the window's top-left index, so evaluating a node
 * is four array reads per rectangle. Build one per image size with `compileCascade`.
 */
export interface CompiledCascade {
  readonly cascade: HaarCascade;
  readonly stride: number;
  readonly sqsumOffset: number;
  /** Per node: 3 rects × 4 corner offsets (p0 − p1 − p2 + p3), into the shared buffer. */
  readonly nodeOffsets: Int32Array;
  /** Per node: 3 rect weights (0 for unused rects). */
  readonly nodeWeights: Float32Array;
  /** Stage thresholds as OpenCV uses them: float(threshold) − float(1e-5), in float32. */
  readonly stageThreshold: Float32Array;
  /** Corner offsets of the normalisation rectangle in the sum plane. */
  readonly normOffsets: Int32Array;
  readonly normArea: number;
}

const THRESHOLD_EPS = Math.fround(1e-5);

export function compileCascade(cascade: HaarCascade, integral: Pick<IntegralImage, 'stride' | 'sqsumOffset' | 'tiltedOffset'>): CompiledCascade {
  const { stride, sqsumOffset, tiltedOffset } = integral;
  if (cascade.hasTiltedFeatures && tiltedOffset < 0) {
    throw new RangeError('cascade has tilted features: the integral image needs a tilted plane');
  }
  const nodeCount = cascade.nodeFeature.length;
  const nodeOffsets = new Int32Array(nodeCount * MAX_RECTS_PER_FEATURE * 4);
  const nodeWeights = new Float32Array(nodeCount * MAX_RECTS_PER_FEATURE);
  for (let n = 0; n < nodeCount; n++) {
    const f = cascade.nodeFeature[n] ?? 0;
    const tilted = cascade.featureTilted[f] === 1;
    for (let r = 0; r < MAX_RECTS_PER_FEATURE; r++) {
      const weight = cascade.featureWeights[f * MAX_RECTS_PER_FEATURE + r] ?? 0;
      nodeWeights[n * MAX_RECTS_PER_FEATURE + r] = weight;
      if (weight === 0) continue;
      const ro = (f * MAX_RECTS_PER_FEATURE + r) * 4;
      const x = cascade.featureRects[ro] ?? 0;
      const y = cascade.featureRects[ro + 1] ?? 0;
      const w = cascade.featureRects[ro + 2] ?? 0;
      const h = cascade.featureRects[ro + 3] ?? 0;
      const o = (n * MAX_RECTS_PER_FEATURE + r) * 4;
      if (tilted) {
        // CV_TILTED_OFS: (x, y), (x − h, y + h), (x + w, y + w), (x + w − h, y + w + h).
        nodeOffsets[o] = tiltedOffset + x + stride * y;
        nodeOffsets[o + 1] = tiltedOffset + x - h + stride * (y + h);
        nodeOffsets[o + 2] = tiltedOffset + x + w + stride * (y + w);
        nodeOffsets[o + 3] = tiltedOffset + x + w - h + stride * (y + w + h);
      } else {
        // CV_SUM_OFS: (x, y), (x + w, y), (x, y + h), (x + w, y + h).
        nodeOffsets[o] = x + stride * y;
        nodeOffsets[o + 1] = x + w + stride * y;
        nodeOffsets[o + 2] = x + stride * (y + h);
        nodeOffsets[o + 3] = x + w + stride * (y + h);
      }
    }
  }
  const stageThreshold = new Float32Array(cascade.stageCount);
  for (let s = 0; s < cascade.stageCount; s++) stageThreshold[s] = (cascade.stageThreshold[s] ?? 0) - THRESHOLD_EPS;
  const nw = cascade.windowWidth - 2;
  const nh = cascade.windowHeight - 2;
  const normOffsets = Int32Array.of(1 + stride, 1 + nw + stride, 1 + stride * (1 + nh), 1 + nw + stride * (1 + nh));
  return { cascade, stride, sqsumOffset, nodeOffsets, nodeWeights, stageThreshold, normOffsets, normArea: nw * nh };
}

/**
 * Run the cascade on the window whose top-left pixel is (x, y) in the image that `integral`
 * summarises. Returns the number of stages passed: `cascade.stageCount` means accepted, 0
 * rejected by the first stage; WINDOW_REJECTED (−1) for a flat window or one not fully inside.
 */
export function evaluateWindow(compiled: CompiledCascade, integral: IntegralImage, x: number, y: number): number {
  checkLayout(compiled, integral);
  const { windowWidth, windowHeight } = compiled.cascade;
  // OpenCV's setWindow: pt + window must stay strictly inside the (W+1)×(H+1) integral.
  if (x < 0 || y < 0 || x + windowWidth > integral.width || y + windowHeight > integral.height) return WINDOW_REJECTED;
  return runAt(compiled, integral.data, y * compiled.stride + x);
}

/**
 * Scan every window of one image with OpenCV's pattern (CascadeClassifierInvoker): rows and
 * columns every `step` pixels, and one extra `step` to the right after a window that the first
 * stage rejected. Returns the accepted windows' top-left corners as [x0, y0, x1, y1, ...].
 */
export function scanImage(compiled: CompiledCascade, integral: IntegralImage, step: number): number[] {
  checkLayout(compiled, integral);
  const { windowWidth, windowHeight, stageCount } = compiled.cascade;
  const hits: number[] = [];
  const xEnd = integral.width - windowWidth; // inclusive
  const yEnd = integral.height - windowHeight;
  const { stride } = compiled;
  const data = integral.data;
  for (let y = 0; y <= yEnd; y += step) {
    const rowBase = y * stride;
    for (let x = 0; x <= xEnd; x += step) {
      const result = runAt(compiled, data, rowBase + x);
      if (result === stageCount) hits.push(x, y);
      else if (result === 0) x += step;
    }
  }
  return hits;
}

function checkLayout(compiled: CompiledCascade, integral: IntegralImage): void {
  if (integral.stride !== compiled.stride || integral.sqsumOffset !== compiled.sqsumOffset) {
    throw new RangeError('integral image layout differs from the one the cascade was compiled for');
  }
}

/** Variance normalisation, then the stages. `p` is the window's top-left index in the sum plane. */
function runAt(c: CompiledCascade, d: Float64Array, p: number): number {
  const no = c.normOffsets;
  const n0 = p + no[0]!;
  const n1 = p + no[1]!;
  const n2 = p + no[2]!;
  const n3 = p + no[3]!;
  const q = c.sqsumOffset;
  const sum = d[n0]! - d[n1]! - d[n2]! + d[n3]!;
  const sqsum = d[q + n0]! - d[q + n1]! - d[q + n2]! + d[q + n3]!;
  const area = c.normArea;
  const nf = area * sqsum - sum * sum;
  if (nf <= 0) return WINDOW_REJECTED;
  const invNorm = Math.fround(1 / Math.sqrt(nf));
  if (area * invNorm >= 0.1) return WINDOW_REJECTED;
  return c.cascade.stumpsOnly ? runStumps(c, d, p, invNorm) : runTrees(c, d, p, invNorm);
}

/** Feature value of node n: Σ weight · rect sum, normalised, in float32 as OpenCV has it. */
function nodeValue(ofs: Int32Array, wts: Float32Array, d: Float64Array, p: number, n: number, invNorm: number): number {
  const o = n * 12;
  const w = n * 3;
  let f =
    wts[w]! * (d[p + ofs[o]!]! - d[p + ofs[o + 1]!]! - d[p + ofs[o + 2]!]! + d[p + ofs[o + 3]!]!) +
    wts[w + 1]! * (d[p + ofs[o + 4]!]! - d[p + ofs[o + 5]!]! - d[p + ofs[o + 6]!]! + d[p + ofs[o + 7]!]!);
  const w2 = wts[w + 2]!;
  if (w2 !== 0) {
    f += w2 * (d[p + ofs[o + 8]!]! - d[p + ofs[o + 9]!]! - d[p + ofs[o + 10]!]! + d[p + ofs[o + 11]!]!);
  }
  return Math.fround(Math.fround(f) * invNorm);
}

/** predictOrderedStump: one node per tree, leaves 2t (left) and 2t+1 (right). */
function runStumps(c: CompiledCascade, d: Float64Array, p: number, invNorm: number): number {
  const { stageTreeStart, nodeThreshold, leafValues, stageCount } = c.cascade;
  const ofs = c.nodeOffsets;
  const wts = c.nodeWeights;
  const stageThr = c.stageThreshold;
  let t = 0;
  for (let s = 0; s < stageCount; s++) {
    const end = stageTreeStart[s + 1]!;
    let acc = 0;
    for (; t < end; t++) {
      const value = nodeValue(ofs, wts, d, p, t, invNorm);
      acc += value < nodeThreshold[t]! ? leafValues[2 * t]! : leafValues[2 * t + 1]!;
    }
    if (acc < stageThr[s]!) return s;
  }
  return stageCount;
}

/** predictOrdered: walk each tree from its root until a leaf (child index ≤ 0). */
function runTrees(c: CompiledCascade, d: Float64Array, p: number, invNorm: number): number {
  const { stageTreeStart, treeNodeStart, treeLeafStart, nodeLeft, nodeRight, nodeThreshold, leafValues, stageCount } = c.cascade;
  const ofs = c.nodeOffsets;
  const wts = c.nodeWeights;
  const stageThr = c.stageThreshold;
  let t = 0;
  for (let s = 0; s < stageCount; s++) {
    const end = stageTreeStart[s + 1]!;
    let acc = 0;
    for (; t < end; t++) {
      const root = treeNodeStart[t]!;
      let idx = 0;
      do {
        const n = root + idx;
        const value = nodeValue(ofs, wts, d, p, n, invNorm);
        idx = value < nodeThreshold[n]! ? nodeLeft[n]! : nodeRight[n]!;
      } while (idx > 0);
      acc += leafValues[treeLeafStart[t]! - idx]!;
    }
    if (acc < stageThr[s]!) return s;
  }
  return stageCount;
}
