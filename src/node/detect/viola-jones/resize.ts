/**
 * Bilinear resize of an 8-bit gray image, bit-exact with OpenCV's
 * `resize(..., INTER_LINEAR_EXACT)` for CV_8U (modules/imgproc/src/resize.cpp:
 * `interpolationLinear`, `hlineResizeCn`, `vlineResize` over `ufixedpoint16`), which is what
 * `CascadeClassifier` uses to build its image pyramid in OpenCV 4 (`FeatureEvaluator::setImage`).
 * Matching it makes the cascade see exactly the pixels OpenCV's would (checked against
 * OpenCV 4.6: identical output for down- and up-scaling).
 *
 * - Mapping: src = (dst + 0.5) · scale − 0.5 with scale = 1 / (dstSize / srcSize), in double.
 * - Weights: 8 fractional bits, w1 = round((src − ⌊src⌋) · 256) (half to even), w0 = 256 − w1.
 * - Positions left of the first pixel centre, or at / right of the last, replicate the edge pixel.
 * - Horizontal pass keeps 8 fractional bits; vertical pass rounds 16 bits away (half up).
 */

/** Gray image crop: `width × height` pixels starting at (x, y) of a buffer with `stride` bytes a row. */
export interface GrayView {
  readonly data: Uint8Array;
  readonly stride: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const ONE = 256;
/** Tap kinds: interpolate between two pixels, or replicate the first / last pixel. */
const INTERPOLATE = 0;
const FIRST = 1;
const LAST = 2;

interface Taps {
  readonly kind: Uint8Array;
  readonly offset: Int32Array;
  readonly w0: Int32Array;
  readonly w1: Int32Array;
}

/** Resize `src` (a view into a gray buffer) to dstWidth × dstHeight into `dst` (or a new buffer). */
export function resizeGrayBilinear(src: GrayView, dstWidth: number, dstHeight: number, dst?: Uint8Array): Uint8Array {
  const { data, stride, width: sw, height: sh } = src;
  if (sw < 1 || sh < 1 || dstWidth < 1 || dstHeight < 1) throw new RangeError('resize: empty image');
  const out = dst ?? new Uint8Array(dstWidth * dstHeight);
  if (out.length < dstWidth * dstHeight) throw new RangeError('resize: destination too small');
  const base = src.y * stride + src.x;
  const xt = taps(sw, dstWidth);
  const yt = taps(sh, dstHeight);

  // Horizontally resized source rows (8 fractional bits), kept while consecutive output rows
  // share them, as OpenCV's line buffer does.
  let rowA = new Int32Array(dstWidth);
  let rowB = new Int32Array(dstWidth);
  let haveA = -1;
  let haveB = -1;
  const hrow = (sy: number, into: Int32Array): void => hline(data, base + sy * stride, sw, xt, into);

  for (let dy = 0; dy < dstHeight; dy++) {
    const o = dy * dstWidth;
    const kind = yt.kind[dy]!;
    if (kind !== INTERPOLATE) {
      // vlineSet: one edge row, rounded from 8 fractional bits.
      const sy = kind === FIRST ? 0 : sh - 1;
      if (sy !== haveA) {
        hrow(sy, rowA);
        haveA = sy;
      }
      for (let dx = 0; dx < dstWidth; dx++) out[o + dx] = (rowA[dx]! + 128) >> 8;
      continue;
    }
    const sy = yt.offset[dy]!;
    if (sy !== haveA) {
      if (sy === haveB) {
        const t = rowA;
        rowA = rowB;
        rowB = t;
        haveA = sy;
        haveB = -1;
      } else {
        hrow(sy, rowA);
        haveA = sy;
      }
    }
    if (sy + 1 !== haveB) {
      hrow(sy + 1, rowB);
      haveB = sy + 1;
    }
    const b0 = yt.w0[dy]!;
    const b1 = yt.w1[dy]!;
    // vlineResize: 8 + 8 fractional bits, rounded half up (≤ 255·2^16, no saturation needed).
    for (let dx = 0; dx < dstWidth; dx++) out[o + dx] = (rowA[dx]! * b0 + rowB[dx]! * b1 + 32768) >> 16;
  }
  return out;
}

/**
 * OpenCV's `interpolationLinear::getCoeffs` for every destination index, as (offset, w0, w1)
 * triples that need no edge branch: a replicated first pixel is (0, 256, 0) and a replicated last
 * pixel (srcSize − 2, 0, 256), which give the same 8-fractional-bit values as OpenCV's
 * replication. `kind` still records which case each index is, for the vertical pass.
 */
function taps(srcSize: number, dstSize: number): Taps {
  const kind = new Uint8Array(dstSize);
  const offset = new Int32Array(dstSize);
  const w0 = new Int32Array(dstSize);
  const w1 = new Int32Array(dstSize);
  const scale = 1 / (dstSize / srcSize); // softdouble::one() / inv_scale, inv_scale = dsize / ssize
  for (let d = 0; d < dstSize; d++) {
    const f = scale * (d + 0.5) - 0.5;
    const i = Math.floor(f);
    if (i < 0 || srcSize <= 1) {
      kind[d] = FIRST;
      w0[d] = ONE;
    } else if (i >= srcSize - 1) {
      kind[d] = LAST;
      offset[d] = srcSize - 2;
      w1[d] = ONE;
    } else {
      const a = roundHalfEven((f - i) * ONE);
      kind[d] = INTERPOLATE;
      offset[d] = i;
      w1[d] = a;
      w0[d] = ONE - a;
    }
  }
  return { kind, offset, w0, w1 };
}

/** hlineResizeCn<uint8_t, ufixedpoint16, 2, true, 1>: one row to 8 fractional bits. */
function hline(data: Uint8Array, rowStart: number, sw: number, t: Taps, out: Int32Array): void {
  const n = out.length;
  if (sw === 1) {
    out.fill(data[rowStart]! << 8);
    return;
  }
  const { offset, w0, w1 } = t;
  for (let dx = 0; dx < n; dx++) {
    const s = rowStart + offset[dx]!;
    out[dx] = w0[dx]! * data[s]! + w1[dx]! * data[s + 1]!;
  }
}

/** `cvRound` / `saturate_cast<int>` on x86: round half to even. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
