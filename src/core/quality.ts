/**
 * Quality flags: whether a face is one the models were trained for. The attribute networks saw
 * near-frontal, sharp, adequately sized faces (FER2013, FER+, UTKFace); on a profile, a face a few
 * pixels wide or a smeared one they still answer, with confidence, and the answer means little.
 * `assessQuality` is a pure function of what the analyzer measured. Heavy occlusion (sunglasses,
 * a mask, a hand over the mouth) is measured by a small network, `occlusion-synth` (models/), when it
 * is installed: how much of the eyes, nose and mouth is hidden.
 */
import { alignFace } from './align.js';
import type { InferResult } from './infer.js';
import type { ModelManifest } from './models/manifest.js';
import { decodeOutput } from './postprocess.js';
import type { Detection, Image8, RgbImage } from './types.js';

/** Id of the occlusion model (models/occlusion-synth.json; trained by training/occlusion.py). */
export const OCCLUSION_MODEL = 'occlusion-synth';

export type QualityReason = 'yaw' | 'tiny' | 'blur' | 'low-score' | 'occlusion';

/** Estimated fraction hidden (0..1) of each face region, from the `occlusion-synth` model. */
export type OcclusionRegions = Readonly<Record<'eyes' | 'nose' | 'mouth', number>>;

export interface QualityThresholds {
  /** Faces turned further than this (|yaw|, degrees, from the landmarks) are unreliable. */
  readonly maxAbsYawDeg: number;
  /** Faces whose eyes are closer than this (input pixels) are unreliable. */
  readonly minEyeDistancePx: number;
  /** Faces whose quality crop has a Laplacian variance below this are unreliable (see `sharpness`). */
  readonly minSharpness: number;
  /** Detections scored below this are unreliable (often not a face, or a heavily occluded one). */
  readonly minDetectorScore: number;
  /** Faces with a region (eyes, nose or mouth) estimated hidden above this are unreliable (needs `occlusion-synth`). */
  readonly maxOcclusion: number;
}

/**
 * Chosen from `FACESENSE_DATA=... node dist/bench/quality.js 300 1500` (README "Quality flags"):
 * FER+ emotion accuracy is 78–86% up to |yaw| 50° (the landmark estimate saturates near 60° on
 * true profiles), 59% beyond; below detector score 0.8 it is 20–50% against 86% above 0.9;
 * UTKFace age MAE is 3.4–4.5 years with eyes ≥ 16 px apart and 5.3–8.4 below; and 4.4 on crops
 * sharper than 400, 5.6 at 200–400, 6–10 below 200.
 */
export const DEFAULT_QUALITY_THRESHOLDS: QualityThresholds = Object.freeze({
  maxAbsYawDeg: 50,
  minEyeDistancePx: 16,
  minSharpness: 200,
  minDetectorScore: 0.8,
  maxOcclusion: 0.5,
});

export interface FaceQuality {
  /** False when any reason applies. */
  readonly reliable: boolean;
  readonly reasons: readonly QualityReason[];
  /** Variance of the Laplacian of the 48×48 gray aligned crop (higher: sharper). */
  readonly sharpness: number;
  /** Estimated fraction hidden of each region; absent when the occlusion model is not loaded. */
  readonly occlusion?: OcclusionRegions;
}

/** Size and framing of the crop `sharpness` is measured on: the scale the networks see. */
const QUALITY_CROP = { width: 48, height: 48, channels: 1, crop: { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.4 } } as const;

/** Variance of the 4-neighbour Laplacian over the interior of a gray image: a standard focus measure. */
export function sharpness(gray: Image8): number {
  const { width: W, height: H, data } = gray;
  if (gray.channels !== 1) throw new RangeError('sharpness needs a 1-channel image');
  let n = 0;
  let sum = 0;
  let sq = 0;
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      const l = data[i - 1]! + data[i + 1]! + data[i - W]! + data[i + W]! - 4 * data[i]!;
      n++;
      sum += l;
      sq += l * l;
    }
  }
  return n === 0 ? 0 : sq / n - (sum / n) ** 2;
}

/** The sharpness of a detected face, measured on its aligned 48×48 gray crop. */
export function faceSharpness(image: RgbImage, det: Detection): number {
  return sharpness(alignFace(image, det, QUALITY_CROP).image);
}

/** Flags a face from its measurements; NaN or absent measurements raise no flag. */
export function assessQuality(
  m: { readonly score: number; readonly eyeDistancePx: number; readonly yawDeg?: number; readonly sharpness: number; readonly occlusion?: OcclusionRegions },
  t: QualityThresholds = DEFAULT_QUALITY_THRESHOLDS,
): FaceQuality {
  const reasons: QualityReason[] = [];
  if (m.yawDeg !== undefined && Math.abs(m.yawDeg) > t.maxAbsYawDeg) reasons.push('yaw');
  if (m.eyeDistancePx < t.minEyeDistancePx) reasons.push('tiny');
  if (m.sharpness < t.minSharpness) reasons.push('blur');
  if (m.score < t.minDetectorScore) reasons.push('low-score');
  if (m.occlusion !== undefined && Math.max(m.occlusion.eyes, m.occlusion.nose, m.occlusion.mouth) > t.maxOcclusion) reasons.push('occlusion');
  return { reliable: reasons.length === 0, reasons, sharpness: m.sharpness, ...(m.occlusion === undefined ? {} : { occlusion: m.occlusion }) };
}

/** Each face's region occlusion from the occlusion model's batched output (sigmoid per region). */
export function occlusionOf(manifest: ModelManifest, raw: InferResult): OcclusionRegions[] {
  const out = manifest.outputs.find((o) => o.task === 'occlusion');
  if (out === undefined) return [];
  return (raw.outputs['occlusion'] ?? []).map((row) => {
    const r = decodeOutput(out, row);
    const s = r.kind === 'multilabel' ? r.scores : {};
    return { eyes: s['eyes'] ?? Number.NaN, nose: s['nose'] ?? Number.NaN, mouth: s['mouth'] ?? Number.NaN };
  });
}
