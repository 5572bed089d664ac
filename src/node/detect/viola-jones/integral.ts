/**
 * Gray conversion and integral images (summed-area tables) for the Haar evaluator.
 *
 * Integral images follow `cv::integral` (modules/imgproc/src/sumpixels.cpp): for a W×H image
 * they are (W+1)×(H+1) with a zero first row and column, so the sum over pixels
 * [x, x+w) × [y, y+h) is  S(x,y) − S(x+w,y) − S(x,y+h) + S(x+w,y+h).
 * Values are exact integers held in Float64Array (exact up to 2^53; an 8-bit image of any
 * practical size stays far below that, unlike OpenCV's 32-bit sums).
 */
import type { RgbImage } from '../../../core/types.js';

/**
 * 8-bit gray from RGB with BT.601 luma weights (0.299, 0.587, 0.114) in OpenCV's 15-bit fixed
 * point (`cvtColor(..., COLOR_RGB2GRAY)` for 8-bit, modules/imgproc/src/color_rgb.simd.hpp:
 * R2Y = 9798, G2Y = 19235, B2Y = 3735, rounded), so the cascade sees exactly the gray levels
 * OpenCV would give it (checked against OpenCV 4.6: identical).
 */
export function grayFromRgb(image: RgbImage): Uint8Array {
  const { data, width, height } = image;
  const n = width * height;
  const gray = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    gray[i] = (data[j]! * 9798 + data[j + 1]! * 19235 + data[j + 2]! * 3735 + 16384) >> 15;
  }
  return gray;
}

/**
 * Integral planes of one image, stored in one buffer: `sum` at 0, `sqsum` at `sqsumOffset`,
 * `tilted` at `tiltedOffset` (−1 when not computed). Each plane has `stride` elements per row;
 * element (X, Y) of a plane is at `planeOffset + Y * stride + X`, 0 ≤ X ≤ width, 0 ≤ Y ≤ height.
 * One buffer with fixed offsets lets a compiled cascade address every plane from one base index,
 * as OpenCV's `HaarEvaluator` does with its `sbuf`.
 */
export interface IntegralImage {
  /** Size of the source image (the planes are one larger each way). */
  readonly width: number;
  readonly height: number;
  readonly stride: number;
  readonly data: Float64Array;
  readonly sqsumOffset: number;
  readonly tiltedOffset: number;
}

/**
 * Allocate planes for images up to maxWidth × maxHeight. Fill them with `fillIntegral`; a
 * pyramid reuses one allocation for every (smaller) level, keeping the same stride.
 */
export function allocateIntegral(maxWidth: number, maxHeight: number, withTilted: boolean): IntegralImage {
  const stride = maxWidth + 1;
  const plane = stride * (maxHeight + 1);
  return {
    width: maxWidth,
    height: maxHeight,
    stride,
    data: new Float64Array(plane * (withTilted ? 3 : 2)),
    sqsumOffset: plane,
    tiltedOffset: withTilted ? plane * 2 : -1,
  };
}

/**
 * Compute sum, squared sum and (when `target` has the plane) tilted integrals of `gray`
 * (width × height, row-major, tightly packed) into `target`'s buffer. Returns a view sized to
 * this image that shares `target`'s buffer.
 */
export function fillIntegral(gray: Uint8Array, width: number, height: number, target: IntegralImage): IntegralImage {
  const { stride, data, sqsumOffset, tiltedOffset } = target;
  if (width < 1 || height < 1 || width + 1 > stride || (height + 1) * stride > sqsumOffset) {
    throw new RangeError(`integral target too small for ${width}×${height}`);
  }
  const sq = sqsumOffset;
  // Row 0 is all zeros.
  data.fill(0, 0, width + 1);
  data.fill(0, sq, sq + width + 1);
  for (let y = 0; y < height; y++) {
    const row = (y + 1) * stride;
    const prev = y * stride;
    const src = y * width;
    data[row] = 0;
    data[sq + row] = 0;
    let s = 0;
    let s2 = 0;
    for (let x = 0; x < width; x++) {
      const v = gray[src + x]!;
      s += v;
      s2 += v * v;
      data[row + x + 1] = data[prev + x + 1]! + s;
      data[sq + row + x + 1] = data[sq + prev + x + 1]! + s2;
    }
  }
  if (tiltedOffset >= 0) fillTilted(gray, width, height, stride, data, tiltedOffset);
  return { width, height, stride, data, sqsumOffset, tiltedOffset };
}

/** Allocate and fill in one call (tests, one-off evaluation). */
export function integralImage(gray: Uint8Array, width: number, height: number, withTilted = false): IntegralImage {
  return fillIntegral(gray, width, height, allocateIntegral(width, height, withTilted));
}

/**
 * Rotated summed-area table (Lienhart & Maydt 2002, "An extended set of Haar-like features"),
 * with OpenCV's definition (cv::integral docs):
 *
 *     T(X, Y) = Σ image(x, y)  over  y < Y,  |x − X + 1| ≤ Y − y − 1
 *
 * i.e. the 45° triangle opening upwards from apex pixel (X−1, Y−1). Recurrence, row by row:
 *     T(X, Y) = T(X−1, Y−1) + T(X+1, Y−1) − T(X, Y−2) + I(X−1, Y−1) + I(X−1, Y−2)
 * with the borders that the triangle's clipping implies: T(0, Y) = T(1, Y−1) and
 * T(W+1, Y−1) = T(W, Y−2) (the column beyond the table), and rows above 0 being zero.
 */
function fillTilted(gray: Uint8Array, width: number, height: number, stride: number, data: Float64Array, t: number): void {
  const at = (x: number, y: number): number => (y < 0 ? 0 : data[t + y * stride + x] ?? 0);
  const px = (x: number, y: number): number => (y < 0 ? 0 : gray[y * width + x] ?? 0);
  data.fill(0, t, t + width + 1);
  for (let Y = 1; Y <= height; Y++) {
    const row = t + Y * stride;
    for (let X = 1; X <= width; X++) {
      const right = X + 1 <= width ? at(X + 1, Y - 1) : at(X, Y - 2);
      data[row + X] = at(X - 1, Y - 1) + right - at(X, Y - 2) + px(X - 1, Y - 1) + px(X - 1, Y - 2);
    }
    // Column 0: the apex is outside the image; only the part clipped from T(1, Y−1) remains.
    data[row] = at(1, Y - 1);
  }
}
