import { cropTransform, warpAffine, warpPixels, type Affine } from './align.js';
import type { ModelInput } from './models/manifest.js';
import { flipHorizontal, normaliseInto } from './normalise.js';
import type { Detection, Image8, RgbImage } from './types.js';

/**
 * Align and normalise stages in one pass: each output pixel is sampled by `warpAffine`'s own
 * sampler (`warpPixels`, so the same rounded 8-bit value) and written
 * straight into the model's input tensor at `offset` through a per-channel lookup table that holds
 * the normalise stage's own formula, so the numbers equal the unfused path's bit for bit. With
 * `mirrorOffset` ≥ 0 the mirror image (test-time augmentation) is written there in the same pass.
 * `gcn` normalisation needs the whole crop's statistics first, so it takes the unfused path.
 */
export function alignNormaliseInto(image: RgbImage | Image8, m: Affine, input: ModelInput, out: Float32Array, offset: number, mirrorOffset = -1): void {
  inputWriter(input)(image, m, out, offset, mirrorOffset);
}

/** Writes one face's input tensor (and its mirror image at `mirrorOffset` ≥ 0); see alignNormaliseInto. */
export type InputWriter = (image: RgbImage | Image8, m: Affine, out: Float32Array, offset: number, mirrorOffset?: number) => void;

/** alignNormaliseInto for one model input, its lookup table built once (callers keep one per model). */
export function inputWriter(input: ModelInput): InputWriter {
  const { width: W, height: H, channels: C } = input;
  if (input.normalisation.kind === 'gcn') {
    return (image, m, out, offset, mirrorOffset = -1) => {
      const img = warpAffine(image, m, W, H, C);
      normaliseInto(img, input, out, offset);
      if (mirrorOffset >= 0) normaliseInto(flipHorizontal(img), input, out, mirrorOffset);
    };
  }
  const lut = normaliseTable(input);
  const nchw = input.layout === 'NCHW';
  // Output element (pixel, channel) → index, for the face and for its mirror image.
  const cStride = nchw ? W * H : 1;
  const pStride = nchw ? 1 : C;
  const norm = input.normalisation;
  if (norm.kind === 'scale' && C === 1) {
    // The shipped emotion models: one multiply, as normaliseInto's `scale` case.
    const k = norm.scale;
    return (image, m, out, offset, mirrorOffset = -1) =>
      mirrorOffset < 0
        ? warpPixels(image, m, W, H, 1, (p, _u, q) => void (out[offset + p] = q[0]! * k))
        : warpPixels(image, m, W, H, 1, (p, u, q) => void (out[offset + p] = out[mirrorOffset + p + W - 1 - 2 * u] = q[0]! * k));
  }
  return (image, m, out, offset, mirrorOffset = -1) =>
    warpPixels(image, m, W, H, C, (p, u, q) => {
      const o = offset + p * pStride;
      const om = mirrorOffset + (p + W - 1 - 2 * u) * pStride;
      for (let c = 0; c < C; c++) {
        const val = lut[c * 256 + q[c]!]!;
        out[o + c * cStride] = val;
        if (mirrorOffset >= 0) out[om + c * cStride] = val;
      }
    });
}

/** The normalise stage's value of every 8-bit level, per channel (scale and meanstd only). */
function normaliseTable(input: ModelInput): Float32Array {
  const C = input.channels;
  // A 256×1 image whose pixel x has level x in every channel, normalised by normaliseInto itself
  // (so the table cannot drift from the unfused formula), read back per channel.
  const levels = new Uint8Array(256 * C).map((_, i) => Math.floor(i / C));
  const row = new Float32Array(256 * C);
  normaliseInto({ data: levels, width: 256, height: 1, channels: C }, { ...input, width: 256, height: 1, layout: 'NHWC' }, row, 0);
  const lut = new Float32Array(256 * C);
  for (let level = 0; level < 256; level++) for (let c = 0; c < C; c++) lut[c * 256 + level] = row[level * C + c]!;
  return lut;
}

/**
 * The aligned crop of `det` for a model, written as its input tensor (see alignNormaliseInto);
 * returns the crop's transform, roll and eye distance as alignFace does.
 */
export function alignFaceInto(image: RgbImage | Image8, det: Detection | undefined, input: ModelInput, out: Float32Array, offset: number, mirrorOffset = -1, writer: InputWriter = inputWriter(input)): ReturnType<typeof cropTransform> {
  const t = cropTransform(det, image, { width: input.width, height: input.height, channels: input.channels, crop: input.crop });
  writer(image, t.transform, out, offset, mirrorOffset);
  return t;
}
