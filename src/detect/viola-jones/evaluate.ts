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
 * is four array reads per rectangle. Build one per layout with `compileCascade`.
 */
export interface CompiledCascade {
  readonly cascade: HaarCascade;
  readonly stride: number;
  readonly sqsumOffset: number;
  /** Per node: 3 rects × 4 corner offsets (sum = p0 − p1 − p2 + p3), into the shared buffer. */
  readonly nodeOffsets: Int32Array;
  /** Per node: 3 rect weights (0 for unused rects). */
  readonly nodeWeights: Float32Array;
  /**
   * The same features as sparse sums over distinct corners: node n's value is
   * Σ cornerCoef[k] · data[window + cornerOffset[k]] for k in cornerStart[n] .. cornerStart[n+1]−1.
   * A feature's rectangles share corners (two rectangles: 6 distinct corners instead of 8; three:
   * 8 or 9 instead of 12), so this form needs fewer reads. Both forms give the same exact
   * integer as OpenCV's Σ weight · rectSum for integer weights (all stock cascades use −1, 2, 3, 9).
   */
  readonly cornerStart: Int32Array;
  readonly cornerOffset: Int32Array;
  readonly cornerCoef: Float64Array;
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
      if (weight === 0) continue; // offsets stay 0: an unused rect sums to 0 anyway
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
  const { cornerStart, cornerOffset, cornerCoef } = mergeCorners(nodeOffsets, nodeWeights);
  const stageThreshold = new Float32Array(cascade.stageCount);
  for (let s = 0; s < cascade.stageCount; s++) stageThreshold[s] = (cascade.stageThreshold[s] ?? 0) - THRESHOLD_EPS;
  const nw = cascade.windowWidth - 2;
  const nh = cascade.windowHeight - 2;
  const normOffsets = Int32Array.of(1 + stride, 1 + nw + stride, 1 + stride * (1 + nh), 1 + nw + stride * (1 + nh));
  return {
    cascade,
    stride,
    sqsumOffset,
    nodeOffsets,
    nodeWeights,
    cornerStart,
    cornerOffset,
    cornerCoef,
    stageThreshold,
    normOffsets,
    normArea: nw * nh,
  };
}

/** Rect form (12 offsets, 3 weights per node) → merged-corner form, corners in ascending order. */
function mergeCorners(nodeOffsets: Int32Array, nodeWeights: Float32Array): Pick<CompiledCascade, 'cornerStart' | 'cornerOffset' | 'cornerCoef'> {
  const nodeCount = nodeWeights.length / MAX_RECTS_PER_FEATURE;
  const cornerStart = new Int32Array(nodeCount + 1);
  const offsets: number[] = [];
  const coefs: number[] = [];
  const sign = [1, -1, -1, 1];
  for (let n = 0; n < nodeCount; n++) {
    const corners = new Map<number, number>();
    for (let r = 0; r < MAX_RECTS_PER_FEATURE; r++) {
      const weight = nodeWeights[n * MAX_RECTS_PER_FEATURE + r] ?? 0;
      if (weight === 0) continue;
      for (let k = 0; k < 4; k++) {
        const offset = nodeOffsets[(n * MAX_RECTS_PER_FEATURE + r) * 4 + k] ?? 0;
        corners.set(offset, (corners.get(offset) ?? 0) + (sign[k] ?? 0) * weight);
      }
    }
    for (const [offset, coef] of [...corners].sort((a, b) => a[0] - b[0])) {
      if (coef === 0) continue;
      offsets.push(offset);
      coefs.push(coef);
    }
    cornerStart[n + 1] = offsets.length;
  }
  return { cornerStart, cornerOffset: Int32Array.from(offsets), cornerCoef: Float64Array.from(coefs) };
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
  const p = y * compiled.stride + x;
  const invNorm = varianceNormFactor(compiled, integral.data, p);
  if (invNorm === 0) return WINDOW_REJECTED;
  return compiled.cascade.stumpsOnly ? runStumps(compiled, integral.data, p, invNorm) : runTrees(compiled, integral.data, p, invNorm);
}

/**
 * Scan every window of one image with OpenCV's pattern (CascadeClassifierInvoker): rows and
 * columns every `step` pixels, and one extra `step` to the right after a window that the first
 * stage rejected. Returns the accepted windows' top-left corners as [x0, y0, x1, y1, ...].
 * `options.perWindow` forces the window-by-window evaluator (used to cross-check the batched one).
 */
export function scanImage(compiled: CompiledCascade, integral: IntegralImage, step: number, options: { perWindow?: boolean } = {}): number[] {
  checkLayout(compiled, integral);
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`scan step must be a positive integer, got ${step}`);
  return compiled.cascade.stumpsOnly && options.perWindow !== true ? scanStumpsByRow(compiled, integral, step) : scanPerWindow(compiled, integral, step);
}

function checkLayout(compiled: CompiledCascade, integral: IntegralImage): void {
  if (integral.stride !== compiled.stride || integral.sqsumOffset !== compiled.sqsumOffset) {
    throw new RangeError('integral image layout differs from the one the cascade was compiled for');
  }
}

function scanPerWindow(c: CompiledCascade, integral: IntegralImage, step: number): number[] {
  const { windowWidth, windowHeight, stageCount, stumpsOnly } = c.cascade;
  const d = integral.data;
  const hits: number[] = [];
  for (let y = 0; y + windowHeight <= integral.height; y += step) {
    for (let x = 0; x + windowWidth <= integral.width; x += step) {
      const p = y * c.stride + x;
      const invNorm = varianceNormFactor(c, d, p);
      if (invNorm === 0) continue; // OpenCV's runAt returns −1: no extra step
      const result = stumpsOnly ? runStumps(c, d, p, invNorm) : runTrees(c, d, p, invNorm);
      if (result === stageCount) hits.push(x, y);
      else if (result === 0) x += step;
    }
  }
  return hits;
}

/**
 * The same scan for stump cascades, evaluated breadth-first along each row: every stage runs
 * node by node over all of the row's live windows, so a node's offsets, weights and threshold
 * stay in registers across windows instead of being reloaded per window. To keep OpenCV's
 * window pattern exactly, stage 0 runs on every grid column; a walk along the row then drops
 * the windows OpenCV would have skipped (the one after each stage-0 rejection) before the
 * later stages run. The accepted set is identical to scanPerWindow's.
 */
function scanStumpsByRow(c: CompiledCascade, integral: IntegralImage, step: number): number[] {
  const { windowWidth, windowHeight, stageCount } = c.cascade;
  const d = integral.data;
  const hits: number[] = [];
  const columns = integral.width - windowWidth < 0 ? 0 : Math.floor((integral.width - windowWidth) / step) + 1;
  const pos = new Int32Array(columns); // window top-left index in the sum plane
  const col = new Int32Array(columns); // grid column
  const inv = new Float64Array(columns); // varianceNormFactor
  const acc = new Float64Array(columns); // stage sum
  const stageThr = c.stageThreshold;
  for (let y = 0; y + windowHeight <= integral.height; y += step) {
    const rowBase = y * c.stride;
    let live = 0;
    for (let g = 0; g < columns; g++) {
      const p = rowBase + g * step;
      const f = varianceNormFactor(c, d, p);
      if (f === 0) continue;
      pos[live] = p;
      col[live] = g;
      inv[live] = f;
      live++;
    }
    if (live === 0) continue;
    runStumpStage(c, d, 0, pos, inv, acc, live);
    // Walk the row as OpenCV does: a stage-0 rejection at column g skips column g + 1.
    const thr0 = stageThr[0]!;
    let kept = 0;
    let nextCol = 0;
    for (let i = 0; i < live; i++) {
      const g = col[i]!;
      if (g < nextCol) continue;
      if (acc[i]! < thr0) {
        nextCol = g + 2;
        continue;
      }
      nextCol = g + 1;
      pos[kept] = pos[i]!;
      inv[kept] = inv[i]!;
      kept++;
    }
    live = kept;
    for (let s = 1; s < stageCount && live > 0; s++) {
      runStumpStage(c, d, s, pos, inv, acc, live);
      const thr = stageThr[s]!;
      kept = 0;
      for (let i = 0; i < live; i++) {
        if (acc[i]! < thr) continue;
        pos[kept] = pos[i]!;
        inv[kept] = inv[i]!;
        kept++;
      }
      live = kept;
    }
    for (let i = 0; i < live; i++) hits.push(pos[i]! - rowBase, y);
  }
  return hits;
}

/**
 * acc[i] = stage s's sum for window i < count (stump cascades), from the merged-corner form.
 * One loop per corner count keeps a node's offsets and coefficients in locals; the stock
 * cascades only have 6, 8 and 9 (OpenCV's sums are exact integers, and so are these, so the
 * grouping of the additions does not change the value).
 */
function runStumpStage(c: CompiledCascade, d: Float64Array, s: number, pos: Int32Array, inv: Float64Array, acc: Float64Array, count: number): void {
  const { stageTreeStart, nodeThreshold, leafValues } = c.cascade;
  const start = c.cornerStart;
  const ofs = c.cornerOffset;
  const cf = c.cornerCoef;
  acc.fill(0, 0, count);
  const end = stageTreeStart[s + 1]!;
  for (let t = stageTreeStart[s]!; t < end; t++) {
    const k = start[t]!;
    const corners = start[t + 1]! - k;
    const thr = nodeThreshold[t]!;
    // Leaf 2t when value < thr, else 2t + 1, picked by index arithmetic rather than a branch:
    // the comparison is data-dependent and a mispredicted branch per node dominated the loop.
    const rightLeaf = 2 * t + 1;
    const o0 = ofs[k]!, o1 = ofs[k + 1]!, o2 = ofs[k + 2]!, o3 = ofs[k + 3]!, o4 = ofs[k + 4]!, o5 = ofs[k + 5]!;
    const k0 = cf[k]!, k1 = cf[k + 1]!, k2 = cf[k + 2]!, k3 = cf[k + 3]!, k4 = cf[k + 4]!, k5 = cf[k + 5]!;
    if (corners === 6) {
      for (let i = 0; i < count; i++) {
        const p = pos[i]!;
        const f = k0 * d[p + o0]! + k1 * d[p + o1]! + k2 * d[p + o2]! + k3 * d[p + o3]! + k4 * d[p + o4]! + k5 * d[p + o5]!;
        acc[i]! += leafValues[rightLeaf - +(Math.fround(Math.fround(f) * inv[i]!) < thr)]!;
      }
    } else if (corners === 8) {
      const o6 = ofs[k + 6]!, o7 = ofs[k + 7]!;
      const k6 = cf[k + 6]!, k7 = cf[k + 7]!;
      for (let i = 0; i < count; i++) {
        const p = pos[i]!;
        const f =
          k0 * d[p + o0]! + k1 * d[p + o1]! + k2 * d[p + o2]! + k3 * d[p + o3]! +
          k4 * d[p + o4]! + k5 * d[p + o5]! + k6 * d[p + o6]! + k7 * d[p + o7]!;
        acc[i]! += leafValues[rightLeaf - +(Math.fround(Math.fround(f) * inv[i]!) < thr)]!;
      }
    } else if (corners === 9) {
      const o6 = ofs[k + 6]!, o7 = ofs[k + 7]!, o8 = ofs[k + 8]!;
      const k6 = cf[k + 6]!, k7 = cf[k + 7]!, k8 = cf[k + 8]!;
      for (let i = 0; i < count; i++) {
        const p = pos[i]!;
        const f =
          k0 * d[p + o0]! + k1 * d[p + o1]! + k2 * d[p + o2]! + k3 * d[p + o3]! +
          k4 * d[p + o4]! + k5 * d[p + o5]! + k6 * d[p + o6]! + k7 * d[p + o7]! + k8 * d[p + o8]!;
        acc[i]! += leafValues[rightLeaf - +(Math.fround(Math.fround(f) * inv[i]!) < thr)]!;
      }
    } else {
      const kEnd = k + corners;
      for (let i = 0; i < count; i++) {
        const p = pos[i]!;
        let f = 0;
        for (let j = k; j < kEnd; j++) f += cf[j]! * d[p + ofs[j]!]!;
        acc[i]! += leafValues[rightLeaf - +(Math.fround(Math.fround(f) * inv[i]!) < thr)]!;
      }
    }
  }
}

/** OpenCV's setWindow normalisation: float(1 / nf), or 0 when the window is rejected. */
function varianceNormFactor(c: CompiledCascade, d: Float64Array, p: number): number {
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
  if (nf <= 0) return 0;
  const invNorm = Math.fround(1 / Math.sqrt(nf));
  return area * invNorm < 0.1 ? invNorm : 0;
}

/** Feature value of node n: Σ weight · rect sum, normalised, in float32 as OpenCV has it. */
function nodeValue(ofs: Int32Array, wts: Float32Array, d: Float64Array, p: number, n: number, invNorm: number): number {
  const o = n * 12;
  const w = n * 3;
  let f =
    wts[w]! * (d[p + ofs[o]!]! - d[p + ofs[o + 1]!]! - d[p + ofs[o + 2]!]! + d[p + ofs[o + 3]!]!) +
    wts[w + 1]! * (d[p + ofs[o + 4]!]! - d[p + ofs[o + 5]!]! - d[p + ofs[o + 6]!]! + d[p + ofs[o + 7]!]!);
  const w2 = wts[w + 2]!;
  if (w2 !== 0) f += w2 * (d[p + ofs[o + 8]!]! - d[p + ofs[o + 9]!]! - d[p + ofs[o + 10]!]! + d[p + ofs[o + 11]!]!);
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
      acc += nodeValue(ofs, wts, d, p, t, invNorm) < nodeThreshold[t]! ? leafValues[2 * t]! : leafValues[2 * t + 1]!;
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
        idx = nodeValue(ofs, wts, d, p, n, invNorm) < nodeThreshold[n]! ? nodeLeft[n]! : nodeRight[n]!;
      } while (idx > 0);
      acc += leafValues[treeLeafStart[t]! - idx]!;
    }
    if (acc < stageThr[s]!) return s;
  }
  return stageCount;
}
