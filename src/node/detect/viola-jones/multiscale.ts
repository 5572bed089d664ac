/**
 * Multi-scale cascade detection, as OpenCV's `CascadeClassifier::detectMultiScale`
 * (modules/objdetect/src/cascadedetect.cpp: detectMultiScaleNoGrouping, FeatureEvaluator::
 * updateScaleData / setImage, CascadeClassifierInvoker):
 *
 * - scales 1, f, f², ... (float32) while the scaled window fits the image and maxSize; levels
 *   whose window is below minSize are skipped;
 * - each level resizes the whole image by 1/scale (bilinear, resize.ts) and scans it with the
 *   cascade at its native window size — the image pyramid, not rescaled features;
 * - the scan step is 2 px at scales < 2 and 1 px from scale 2 up (`ystep = sc >= 2 ? 1 : 2`), in
 *   pixels of the level, with an extra step after a first-stage rejection;
 * - hits map back as Rect(round(x·scale), round(y·scale), round(W·scale), round(H·scale));
 * - `groupRectangles(minNeighbors, 0.2)` merges them, and results are clipped to the image.
 */
import type { HaarCascade } from './cascade.js';
import type { PreparedCascade } from './evaluate.js';
import { compileCascade, prepareCascade, scanImage } from './evaluate.js';
import type { GroupedRect, Rect } from './group.js';
import { groupRectangles } from './group.js';
import { allocateIntegral, fillIntegral } from './integral.js';
import { resizeGrayBilinear, roundHalfEven } from './resize.js';

/** OpenCV's GROUP_EPS for detectMultiScale. */
export const GROUP_EPS = 0.2;

export interface MultiScaleOptions {
  /** Scale step between pyramid levels (> 1). OpenCV default 1.1. */
  readonly scaleFactor: number;
  /** A group needs more than this many raw hits (OpenCV default 3); 0 returns raw hits. */
  readonly minNeighbors: number;
  /** Smallest window, in image pixels, on both sides (OpenCV minSize). */
  readonly minSizePx?: number;
  /** Largest window, in image pixels, on both sides (OpenCV maxSize); default the image. */
  readonly maxSizePx?: number;
}

/** An 8-bit gray image, tightly packed, row-major. */
export interface GrayImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** The pyramid scales OpenCV would use for this image and cascade (float32 values). */
export function pyramidScales(cascade: HaarCascade, width: number, height: number, options: MultiScaleOptions): number[] {
  const { scaleFactor } = options;
  if (!(scaleFactor > 1) || !Number.isFinite(scaleFactor)) throw new RangeError(`scaleFactor must be > 1, got ${scaleFactor}`);
  const minSize = options.minSizePx ?? 0;
  const maxW = Math.min(options.maxSizePx ?? width, width);
  const maxH = Math.min(options.maxSizePx ?? height, height);
  const scales: number[] = [];
  for (let factor = 1; ; factor *= scaleFactor) {
    const winW = roundHalfEven(cascade.windowWidth * factor);
    const winH = roundHalfEven(cascade.windowHeight * factor);
    if (winW > maxW || winH > maxH) break;
    if (winW < minSize || winH < minSize) continue;
    scales.push(Math.fround(factor));
  }
  return scales;
}

/**
 * Raw (ungrouped) hits in image pixels: detectMultiScaleNoGrouping. Pass a PreparedCascade
 * (prepareCascade) when detecting repeatedly, to prepare the cascade once.
 */
export function detectCandidates(source: HaarCascade | PreparedCascade, image: GrayImage, options: MultiScaleOptions): Rect[] {
  const prepared = 'cornerCode' in source ? source : prepareCascade(source);
  const { cascade } = prepared;
  const { width, height } = image;
  const scales = pyramidScales(cascade, width, height, options);
  const first = scales[0];
  if (first === undefined) return [];
  // Level sizes: cvRound(imgsz / scale), with int / float evaluated in float as in OpenCV.
  const levelSize = (scale: number): [number, number] => [
    roundHalfEven(Math.fround(width / scale)),
    roundHalfEven(Math.fround(height / scale)),
  ];
  const [w0, h0] = levelSize(first);
  // One integral buffer and one resize buffer, sized for the largest level, serve every level.
  const integralBuffers = allocateIntegral(w0, h0, cascade.hasTiltedFeatures);
  const compiled = compileCascade(prepared, integralBuffers);
  const levelPixels = new Uint8Array(w0 * h0);
  const full = { data: image.data, stride: width, x: 0, y: 0, width, height };
  const out: Rect[] = [];
  for (const scale of scales) {
    const [lw, lh] = levelSize(scale);
    if (lw < cascade.windowWidth || lh < cascade.windowHeight) continue;
    const pixels = lw === width && lh === height ? image.data : resizeGrayBilinear(full, lw, lh, levelPixels);
    const integral = fillIntegral(pixels, lw, lh, integralBuffers);
    const step = scale >= 2 ? 1 : 2;
    const winW = roundHalfEven(Math.fround(cascade.windowWidth * scale));
    const winH = roundHalfEven(Math.fround(cascade.windowHeight * scale));
    const hits = scanImage(compiled, integral, step);
    for (let i = 0; i < hits.length; i += 2) {
      out.push({
        x: roundHalfEven(Math.fround((hits[i] ?? 0) * scale)),
        y: roundHalfEven(Math.fround((hits[i + 1] ?? 0) * scale)),
        width: winW,
        height: winH,
      });
    }
  }
  return out;
}

/** Grouped detections, clipped to the image (OpenCV's `clipObjects`), with neighbour counts. */
export function detectMultiScale(cascade: HaarCascade | PreparedCascade, image: GrayImage, options: MultiScaleOptions): GroupedRect[] {
  const grouped = groupRectangles(detectCandidates(cascade, image, options), options.minNeighbors, GROUP_EPS);
  const clipped: GroupedRect[] = [];
  for (const r of grouped) {
    const x0 = Math.max(r.x, 0);
    const y0 = Math.max(r.y, 0);
    const x1 = Math.min(r.x + r.width, image.width);
    const y1 = Math.min(r.y + r.height, image.height);
    if (x1 > x0 && y1 > y0) clipped.push({ x: x0, y: y0, width: x1 - x0, height: y1 - y0, neighbors: r.neighbors });
  }
  return clipped;
}
