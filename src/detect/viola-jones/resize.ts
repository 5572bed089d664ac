/**
 * Bilinear resize of an 8-bit gray image, as OpenCV's `resize(..., INTER_LINEAR)` does it for
 * CV_8U (modules/imgproc/src/resize.cpp, `resizeGeneric_` with HResizeLinear / VResizeLinear):
 * pixel-centre mapping  src = (dst + 0.5) · (srcSize / dstSize) − 0.5, coefficients in 11-bit
 * fixed point (INTER_RESIZE_COEF_SCALE = 2048), edge pixels replicated, and the result rounded
 * from 22 fractional bits. CascadeClassifier builds its pyramid with exactly this call, so a
 * matching resize makes the cascade see the same pixels. (OpenCV's SIMD path rounds the
 * vertical pass slightly differently, which can change a pixel by one gray level.)
 */

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** Gray image crop: `width × height` pixels starting at (x, y) of a buffer with `stride` bytes a row. */
export interface GrayView {
  readonly data: Uint8Array;
  readonly stride: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Resize `src` (a view into a gray buffer) to dstWidth × dstHeight into `dst` (or a new buffer). */
export function resizeGrayBilinear(src: GrayView, dstWidth: number, dstHeight: number, dst?: Uint8Array): Uint8Array {
  const { data, stride, width: sw, height: sh } = src;
  if (sw < 1 || sh < 1 || dstWidth < 1 || dstHeight < 1) throw new RangeError('resize: empty image');
  const out = dst ?? new Uint8Array(dstWidth * dstHeight);
  if (out.length < dstWidth * dstHeight) throw new RangeError('resize: destination too small');
  const base = src.y * stride + src.x;

  const xofs = new Int32Array(dstWidth);
  const xa0 = new Int32Array(dstWidth);
  const xa1 = new Int32Array(dstWidth);
  fillTaps(sw, dstWidth, xofs, xa0, xa1);
  const yofs = new Int32Array(dstHeight);
  const ya0 = new Int32Array(dstHeight);
  const ya1 = new Int32Array(dstHeight);
  fillTaps(sh, dstHeight, yofs, ya0, ya1);

  // Horizontal pass of the two source rows each output row needs (OpenCV keeps a ring buffer;
  // recomputing per output row is simpler and costs little when downscaling).
  const row0 = new Int32Array(dstWidth);
  const row1 = new Int32Array(dstWidth);
  for (let dy = 0; dy < dstHeight; dy++) {
    const sy = yofs[dy] ?? 0;
    const sy1 = Math.min(sy + 1, sh - 1);
    hline(data, base + sy * stride, xofs, xa0, xa1, sw, row0);
    hline(data, base + sy1 * stride, xofs, xa0, xa1, sw, row1);
    const b0 = ya0[dy] ?? 0;
    const b1 = ya1[dy] ?? 0;
    const o = dy * dstWidth;
    for (let dx = 0; dx < dstWidth; dx++) {
      // FixedPtCast<int, uchar, 22>: round and saturate.
      const v = ((row0[dx] ?? 0) * b0 + (row1[dx] ?? 0) * b1 + (1 << (2 * COEF_BITS - 1))) >> (2 * COEF_BITS);
      out[o + dx] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/**
 * Per destination index: first source tap and the two fixed-point weights. Mirrors the
 * coefficient loop of `resize` for INTER_LINEAR: fx is computed in float, taps left of the
 * image clamp to (0, weight 0) and taps at or past the last pixel to (last, weight 0).
 */
function fillTaps(srcSize: number, dstSize: number, ofs: Int32Array, a0: Int32Array, a1: Int32Array): void {
  const scale = srcSize / dstSize; // 1 / inv_scale, inv_scale = dsize / ssize (double)
  for (let d = 0; d < dstSize; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (s < 0) {
      f = 0;
      s = 0;
    }
    if (s >= srcSize - 1) {
      f = 0;
      s = srcSize - 1;
    }
    ofs[d] = s;
    a0[d] = roundHalfEven(Math.fround(1 - f) * COEF_SCALE);
    a1[d] = roundHalfEven(f * COEF_SCALE);
  }
}

function hline(data: Uint8Array, rowStart: number, xofs: Int32Array, a0: Int32Array, a1: Int32Array, sw: number, out: Int32Array): void {
  const n = out.length;
  for (let dx = 0; dx < n; dx++) {
    const sx = xofs[dx] ?? 0;
    const p0 = data[rowStart + sx] ?? 0;
    const p1 = sx + 1 < sw ? data[rowStart + sx + 1] ?? 0 : p0;
    out[dx] = p0 * (a0[dx] ?? 0) + p1 * (a1[dx] ?? 0);
  }
}

/** `cvRound` / `saturate_cast<int>` on x86: round half to even. */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
