/**
 * The detect + align stages of the analyzer, packaged as a pack writer's crop (src/data/pack.ts
 * `CropFn`): training crops are made by the same detector, the same eye-based similarity transform
 * and the same sampler (src/align.ts) as the faces the exported model will see in photos.
 */
import { alignFace } from '../core/align.js';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions, type FaceDetector } from '../core/detect/types.js';
import type { CropSpec } from '../core/models/manifest.js';
import type { Detection, Point, RgbImage } from '../core/types.js';
import type { CropFn } from './pack.js';

export type AlignedCropSpec = Extract<CropSpec, { mode: 'aligned' }>;

/** What to do with an image in which the detector finds no face. */
export type NoFacePolicy = 'fallback' | 'skip';

export interface FaceCropOptions {
  readonly detector: FaceDetector;
  /** Output height and width in pixels. */
  readonly size: number;
  /** Output channels; gray is converted after sampling (BT.601), as the analyzer does. */
  readonly channels: 1 | 3;
  readonly crop: AlignedCropSpec;
  /**
   * Where the eyes sit in a pre-aligned dataset's images, as fractions of the width and height
   * (e.g. UTK_CHIP_EYES). Used to align faces the detector misses; without it such images are
   * resized whole.
   */
  readonly fallbackEyes?: { readonly rightEye: Point; readonly leftEye: Point };
  /** `fallback` (default): keep the image, aligned from `fallbackEyes` or resized whole; `skip`: leave it out. */
  readonly noFace?: NoFacePolicy;
  /** Detection options. @default DEFAULT_DETECT_OPTIONS */
  readonly detect?: Partial<DetectOptions>;
}

/**
 * The face an image is about: the largest detection (pre-cropped datasets centre one face; a
 * second, partial face at the border is always smaller). Only detections with landmarks count.
 */
export function mainFace(detections: readonly Detection[]): Detection | undefined {
  let best: Detection | undefined;
  for (const d of detections) {
    if (d.landmarksPx === undefined) continue;
    if (best === undefined || d.boxPx.width * d.boxPx.height > best.boxPx.width * best.boxPx.height) best = d;
  }
  return best;
}

/** A detection whose eyes are the given fractions of the image (the other landmarks are unused by alignment). */
function detectionFromEyes(eyes: { rightEye: Point; leftEye: Point }, width: number, height: number): Detection {
  const r = { x: eyes.rightEye.x * width, y: eyes.rightEye.y * height };
  const l = { x: eyes.leftEye.x * width, y: eyes.leftEye.y * height };
  const mid = { x: (r.x + l.x) / 2, y: (r.y + l.y) / 2 };
  return { boxPx: { x: 0, y: 0, width, height }, score: 0, landmarksPx: { rightEye: r, leftEye: l, nose: mid, rightMouth: mid, leftMouth: mid } };
}

/** Builds the crop: detect, pick the main face, align; or apply the no-face policy. */
export function createFaceCrop(options: FaceCropOptions): CropFn {
  const detect: DetectOptions = { ...DEFAULT_DETECT_OPTIONS, ...options.detect };
  const noFace = options.noFace ?? 'fallback';
  const align = { width: options.size, height: options.size, channels: options.channels, crop: options.crop };
  return async (input) => {
    const rgb: RgbImage = input.channels === 3 ? { ...input, channels: 3 } : { data: grayToRgb(input.data), width: input.width, height: input.height, channels: 3 };
    const face = mainFace(await options.detector.detect(rgb, detect));
    if (face !== undefined) return alignFace(rgb, face, align).image.data;
    if (noFace === 'skip') return null;
    if (options.fallbackEyes !== undefined) {
      return { data: alignFace(rgb, detectionFromEyes(options.fallbackEyes, rgb.width, rgb.height), align).image.data, fallback: `no face found by ${options.detector.name}; aligned from the dataset's median eye positions` };
    }
    return { data: alignFace(rgb, undefined, { ...align, crop: { mode: 'none' } }).image.data, fallback: `no face found by ${options.detector.name}; whole image resized` };
  };
}

function grayToRgb(gray: Uint8Array): Uint8Array {
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = gray[i]!;
  return out;
}
