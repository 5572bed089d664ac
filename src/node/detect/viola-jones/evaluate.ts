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
 * - `scanImage` visits windows in OpenCV's pattern; stump cascades are evaluated row by row,
 *   stage by stage (scanStumpsByRow) for speed, with the same accepted windows.
 *
 * Checked against OpenCV 4.6 (Debian bookworm) on the test photos with the frontal-face, eye,
 * smile (tilted) and eye-tree-eyeglasses (trees + tilted) cascades: identical raw hits.
 */
import type { HaarCascade } from './cascade.js';
import { MAX_RECTS_PER_FEATURE } from './cascade.js';
import type { IntegralImage } from './integral.js';

/** Window rejected before any stage ran (too flat, or outside the image). */
export const WINDOW_REJECTED = -1;

/**
 * Layout-independent preparation of a cascade, done once per cascade: every node's feature as a
 * sparse sum over distinct integral-image corners. A feature's rectangles share corners (two
 * rectangles: 6 distinct corners instead of 8; three: 8 or 9 instead of 12), so this form needs
 * fewer reads. A corner is coded as plane·(W+1)(H+1) + y·(W+1) + x (plane 1 = tilted), which
 * `compileCascade` turns into an offset for a given stride.
 */
export interface PreparedCascade {
  readonly cascade: HaarCascade;
  /** Corners of node n: cornerStart[n] .. cornerStart[n+1] − 1, in ascending code order. */
  readonly cornerStart: Int32Array;
  readonly cornerCode: Int32Array;
  readonly cornerCoef: Float64Array;
  /**
   * True when every feature sum Σ weight · rectSum is an integer below 2^24 in magnitude (integer
   * weights, small windows: every stock cascade), so OpenCV's float32 feature sum is exact and
   * the batched evaluator can skip rounding it.
   */
  readonly exactFeatureSums: boolean;
  /**
   * True when, for every stump, right + (left − right) === left in double arithmetic (leaf values
   * are float32, so their difference is exact unless they are 2^28 apart in magnitude): the
   * batched evaluator then picks a leaf arithmetically, right + [value < threshold]·(left − right),
   * which is faster than a branch or an indexed load and adds exactly the same number.
   */
  readonly exactLeafSelect: boolean;
}

/**
 * A cascade bound to one integral-image layout (stride and plane offsets): every corner becomes
 * a precomputed offset from the window's top-left index. Build one per layout with
 * `compileCascade` (cheap once the cascade is prepared).
 */
export interface CompiledCascade {
  readonly cascade: HaarCascade;
  readonly stride: number;
  readonly sqsumOffset: number;
  readonly tiltedOffset: number;
  /** Per node: 3 rects × 4 corner offsets (sum = p0 − p1 − p2 + p3), into the shared buffer. */
  readonly nodeOffsets: Int32Array;
  /** Per node: 3 rect weights (0 for unused rects). */
  readonly nodeWeights: Float32Array;
  /**
   * The same features in merged-corner form (see PreparedCascade): node n's value is
   * Σ cornerCoef[k] · data[window + cornerOffset[k]] for k in cornerStart[n] .. cornerStart[n+1]−1.
   * Both forms give the same exact integer as OpenCV's Σ weight · rectSum for integer weights
   * (all stock cascades use −1, 2, 3, 9).
   */
  readonly cornerStart: Int32Array;
  readonly cornerOffset: Int32Array;
  readonly cornerCoef: Float64Array;
  readonly exactFeatureSums: boolean;
  readonly exactLeafSelect: boolean;
  /** Stage thresholds as OpenCV uses them: float(threshold) − float(1e-5), in float32. */
  readonly stageThreshold: Float32Array;
  /** Corner offsets of the normalisation rectangle in the sum plane. */
  readonly normOffsets: Int32Array;
  readonly normArea: number;
}

const THRESHOLD_EPS = Math.fround(1e-5);
/** Sign of corners p0..p3 in a rectangle sum p0 − p1 − p2 + p3. */
const CORNER_SIGN = [1, -1, -1, 1] as const;

/**
 * Corners (x, y) of rectangle r of feature f, in CV_SUM_OFS order (x, y), (x + w, y), (x, y + h),
 * (x + w, y + h), or for a tilted feature CV_TILTED_OFS order (x, y), (x − h, y + h),
 * (x + w, y + w), (x + w − h, y + w + h).
 */
function rectCorners(cascade: HaarCascade, f: number, r: number): [number, number][] {
  const ro = (f * MAX_RECTS_PER_FEATURE + r) * 4;
  const x = cascade.featureRects[ro] ?? 0;
  const y = cascade.featureRects[ro + 1] ?? 0;
  const w = cascade.featureRects[ro + 2] ?? 0;
  const h = cascade.featureRects[ro + 3] ?? 0;
  return cascade.featureTilted[f] === 1
    ? [
        [x, y],
        [x - h, y + h],
        [x + w, y + w],
        [x + w - h, y + w + h],
      ]
    : [
        [x, y],
        [x + w, y],
        [x, y + h],
        [x + w, y + h],
      ];
}

export function prepareCascade(cascade: HaarCascade): PreparedCascade {
  const cw = cascade.windowWidth + 1;
  const plane = cw * (cascade.windowHeight + 1);
  const nodeCount = cascade.nodeFeature.length;
  const cornerStart = new Int32Array(nodeCount + 1);
  const codes: number[] = [];
  const coefs: number[] = [];
  for (let n = 0; n < nodeCount; n++) {
    const f = cascade.nodeFeature[n] ?? 0;
    const base = cascade.featureTilted[f] === 1 ? plane : 0;
    const corners = new Map<number, number>();
    for (let r = 0; r < MAX_RECTS_PER_FEATURE; r++) {
      const weight = cascade.featureWeights[f * MAX_RECTS_PER_FEATURE + r] ?? 0;
      if (weight === 0) continue;
      rectCorners(cascade, f, r).forEach(([x, y], k) => {
        const code = base + y * cw + x;
        corners.set(code, (corners.get(code) ?? 0) + (CORNER_SIGN[k] ?? 0) * weight);
      });
    }
    for (const [code, coef] of [...corners].sort((a, b) => a[0] - b[0])) {
      if (coef === 0) continue;
      codes.push(code);
      coefs.push(coef);
    }
    cornerStart[n + 1] = codes.length;
  }
  let exactFeatureSums = true;
  for (let f = 0; f < cascade.featureCount; f++) {
    let bound = 0;
    for (let r = 0; r < MAX_RECTS_PER_FEATURE; r++) {
      const weight = cascade.featureWeights[f * MAX_RECTS_PER_FEATURE + r] ?? 0;
      const ro = (f * MAX_RECTS_PER_FEATURE + r) * 4;
      // A tilted w×h rectangle covers 2·w·h pixels of the grid.
      const pixels = (cascade.featureRects[ro + 2] ?? 0) * (cascade.featureRects[ro + 3] ?? 0) * (cascade.featureTilted[f] === 1 ? 2 : 1);
      if (!Number.isInteger(weight)) exactFeatureSums = false;
      bound += Math.abs(weight) * 255 * pixels;
    }
    if (bound >= 2 ** 24) exactFeatureSums = false;
  }
  let exactLeafSelect = cascade.stumpsOnly;
  for (let t = 0; t + 1 < cascade.leafValues.length && exactLeafSelect; t += 2) {
    const left = cascade.leafValues[t] ?? 0;
    const right = cascade.leafValues[t + 1] ?? 0;
    exactLeafSelect = right + (left - right) === left;
  }
  return { cascade, cornerStart, cornerCode: Int32Array.from(codes), cornerCoef: Float64Array.from(coefs), exactFeatureSums, exactLeafSelect };
}

function isPrepared(source: HaarCascade | PreparedCascade): source is PreparedCascade {
  return 'cornerCode' in source;
}

export function compileCascade(
  source: HaarCascade | PreparedCascade,
  integral: Pick<IntegralImage, 'stride' | 'sqsumOffset' | 'tiltedOffset'>,
): CompiledCascade {
  const prepared = isPrepared(source) ? source : prepareCascade(source);
  const { cascade } = prepared;
  const { stride, sqsumOffset, tiltedOffset } = integral;
  if (cascade.hasTiltedFeatures && tiltedOffset < 0) {
    throw new RangeError('cascade has tilted features: the integral image needs a tilted plane');
  }
  if (stride < cascade.windowWidth + 1) throw new RangeError('integral stride is narrower than the cascade window');
  const nodeCount = cascade.nodeFeature.length;
  const nodeOffsets = new Int32Array(nodeCount * MAX_RECTS_PER_FEATURE * 4);
  const nodeWeights = new Float32Array(nodeCount * MAX_RECTS_PER_FEATURE);
  for (let n = 0; n < nodeCount; n++) {
    const f = cascade.nodeFeature[n] ?? 0;
    const base = cascade.featureTilted[f] === 1 ? tiltedOffset : 0;
    for (let r = 0; r < MAX_RECTS_PER_FEATURE; r++) {
      const weight = cascade.featureWeights[f * MAX_RECTS_PER_FEATURE + r] ?? 0;
      nodeWeights[n * MAX_RECTS_PER_FEATURE + r] = weight;
      if (weight === 0) continue; // offsets stay 0: an unused rect sums to 0 anyway
      const o = (n * MAX_RECTS_PER_FEATURE + r) * 4;
      rectCorners(cascade, f, r).forEach(([x, y], k) => {
        nodeOffsets[o + k] = base + x + stride * y;
      });
    }
  }
  const cw = cascade.windowWidth + 1;
  const plane = cw * (cascade.windowHeight + 1);
  const cornerOffset = prepared.cornerCode.map((code) => {
    const tilted = code >= plane;
    const rest = tilted ? code - plane : code;
    return (tilted ? tiltedOffset : 0) + (rest % cw) + stride * Math.floor(rest / cw);
  });
  const stageThreshold = new Float32Array(cascade.stageCount);
  for (let s = 0; s < cascade.stageCount; s++) stageThreshold[s] = (cascade.stageThreshold[s] ?? 0) - THRESHOLD_EPS;
  const nw = cascade.windowWidth - 2;
  const nh = cascade.windowHeight - 2;
  const normOffsets = Int32Array.of(1 + stride, 1 + nw + stride, 1 + stride * (1 + nh), 1 + nw + stride * (1 + nh));
  return {
    cascade,
    stride,
    sqsumOffset,
    tiltedOffset,
    nodeOffsets,
    nodeWeights,
    cornerStart: prepared.cornerStart,
    cornerOffset,
    cornerCoef: prepared.cornerCoef,
    exactFeatureSums: prepared.exactFeatureSums,
    exactLeafSelect: prepared.exactLeafSelect,
    stageThreshold,
    normOffsets,
    normArea: nw * nh,
  };
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
  const batched = compiled.cascade.stumpsOnly && compiled.exactFeatureSums && compiled.exactLeafSelect && options.perWindow !== true;
  return batched ? scanStumpsByRow(compiled, integral, step) : scanPerWindow(compiled, integral, step);
}

function checkLayout(compiled: CompiledCascade, integral: IntegralImage): void {
  if (integral.stride !== compiled.stride || integral.sqsumOffset !== compiled.sqsumOffset || integral.tiltedOffset !== compiled.tiltedOffset) {
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
  const area = c.normArea;
  const n0 = c.normOffsets[0]!;
  const n1 = c.normOffsets[1]!;
  const n2 = c.normOffsets[2]!;
  const n3 = c.normOffsets[3]!;
  const q0 = n0 + c.sqsumOffset;
  const q1 = n1 + c.sqsumOffset;
  const q2 = n2 + c.sqsumOffset;
  const q3 = n3 + c.sqsumOffset;
  for (let y = 0; y + windowHeight <= integral.height; y += step) {
    const rowBase = y * c.stride;
    // Variance normalisation of every grid window (varianceNormFactor, inlined).
    let live = 0;
    for (let g = 0, p = rowBase; g < columns; g++, p += step) {
      const sum = d[p + n0]! - d[p + n1]! - d[p + n2]! + d[p + n3]!;
      const sqsum = d[p + q0]! - d[p + q1]! - d[p + q2]! + d[p + q3]!;
      const nf = area * sqsum - sum * sum;
      if (nf <= 0) continue;
      const f = Math.fround(1 / Math.sqrt(nf));
      if (area * f >= 0.1) continue;
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
 * cascades only have 6, 8 and 9. Only used when `exactFeatureSums`: the corner sum is then the
 * same exact integer as OpenCV's float32 Σ weight · rectSum (grouping of additions and the
 * float32 rounding of the sum change nothing), so only the product with the normalisation
 * factor is rounded to float32.
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
    // Leaf 2t when value < thr, else 2t + 1, picked arithmetically (exactLeafSelect): the
    // comparison is data-dependent, and a mispredicted branch per node dominated the loop.
    const right = leafValues[2 * t + 1]!;
    const diff = leafValues[2 * t]! - right;
    if (corners === 6 || corners === 8 || corners === 9) {
      const o0 = ofs[k]!, o1 = ofs[k + 1]!, o2 = ofs[k + 2]!, o3 = ofs[k + 3]!, o4 = ofs[k + 4]!, o5 = ofs[k + 5]!;
      const k0 = cf[k]!, k1 = cf[k + 1]!, k2 = cf[k + 2]!, k3 = cf[k + 3]!, k4 = cf[k + 4]!, k5 = cf[k + 5]!;
      if (corners === 6) {
        for (let i = 0; i < count; i++) {
          const p = pos[i]!;
          const f = k0 * d[p + o0]! + k1 * d[p + o1]! + k2 * d[p + o2]! + k3 * d[p + o3]! + k4 * d[p + o4]! + k5 * d[p + o5]!;
          acc[i]! += right + +(Math.fround(f * inv[i]!) < thr) * diff;
        }
      } else if (corners === 8) {
        const o6 = ofs[k + 6]!, o7 = ofs[k + 7]!;
        const k6 = cf[k + 6]!, k7 = cf[k + 7]!;
        for (let i = 0; i < count; i++) {
          const p = pos[i]!;
          const f =
            k0 * d[p + o0]! + k1 * d[p + o1]! + k2 * d[p + o2]! + k3 * d[p + o3]! +
            k4 * d[p + o4]! + k5 * d[p + o5]! + k6 * d[p + o6]! + k7 * d[p + o7]!;
          acc[i]! += right + +(Math.fround(f * inv[i]!) < thr) * diff;
        }
      } else {
        const o6 = ofs[k + 6]!, o7 = ofs[k + 7]!, o8 = ofs[k + 8]!;
        const k6 = cf[k + 6]!, k7 = cf[k + 7]!, k8 = cf[k + 8]!;
        for (let i = 0; i < count; i++) {
          const p = pos[i]!;
          const f =
            k0 * d[p + o0]! + k1 * d[p + o1]! + k2 * d[p + o2]! + k3 * d[p + o3]! +
            k4 * d[p + o4]! + k5 * d[p + o5]! + k6 * d[p + o6]! + k7 * d[p + o7]! + k8 * d[p + o8]!;
          acc[i]! += right + +(Math.fround(f * inv[i]!) < thr) * diff;
        }
      }
    } else {
      const kEnd = k + corners;
      for (let i = 0; i < count; i++) {
        const p = pos[i]!;
        let f = 0;
        for (let j = k; j < kEnd; j++) f += cf[j]! * d[p + ofs[j]!]!;
        acc[i]! += right + +(Math.fround(f * inv[i]!) < thr) * diff;
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
