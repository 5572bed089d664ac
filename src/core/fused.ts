import { cropTransform, warpAffine, type Affine } from './align.js';
import type { ModelInput } from './models/manifest.js';
import { flipHorizontal, normaliseInto } from './normalise.js';
import type { Detection, Image8, RgbImage } from './types.js';

/**
 * Align and normalise stages in one pass: each output pixel is sampled exactly as `warpAffine`
 * samples it (the same arithmetic in the same order, so the same rounded 8-bit value) and written
 * straight into the model's input tensor at `offset` through a per-channel lookup table that holds
 * the normalise stage's own formula, so the numbers equal the unfused path's bit for bit. With
 * `mirrorOffset` ≥ 0 the mirror image (test-time augmentation) is written there in the same pass.
 * `gcn` normalisation needs the whole crop's statistics first, so it takes the unfused path.
 */
export function alignNormaliseInto(image: RgbImage | Image8, m: Affine, input: ModelInput, out: Float32Array, offset: number, mirrorOffset = -1): void {
  const { width: W, height: H, channels: C } = input;
  if (input.normalisation.kind === 'gcn') {
    const img = warpAffine(image, m, W, H, C);
    normaliseInto(img, input, out, offset);
    if (mirrorOffset >= 0) normaliseInto(flipHorizontal(img), input, out, mirrorOffset);
    return;
  }
  const lut = normaliseTable(input);
  const { width: sw, height: sh, channels: sc, data } = image;
  const scale = Math.max(Math.hypot(m.a, m.c), Math.hypot(m.b, m.d));
  const n = Math.min(4, Math.max(1, Math.ceil(scale - 1e-6)));
  const k = 1 / (n * n);
  const plane = W * H;
  const nchw = input.layout === 'NCHW';
  // Output element (u, v, channel) → index, for the face and for its mirror image.
  const cStride = nchw ? plane : 1;
  const pStride = nchw ? 1 : C;
  const gray = C === 1 && sc === 3;
  const spread = C === 3 && sc === 1;
  const q = new Float64Array(3);
  for (let v = 0; v < H; v++) {
    for (let u = 0; u < W; u++) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const uu = u + (i + 0.5) / n;
          const vv = v + (j + 0.5) / n;
          const x = m.a * uu + m.b * vv + m.tx;
          const y = m.c * uu + m.d * vv + m.ty;
          const fx = Math.min(Math.max(x - 0.5, 0), sw - 1);
          const fy = Math.min(Math.max(y - 0.5, 0), sh - 1);
          const x0 = Math.floor(fx);
          const y0 = Math.floor(fy);
          const x1 = Math.min(x0 + 1, sw - 1);
          const y1 = Math.min(y0 + 1, sh - 1);
          const wx = fx - x0;
          const wy = fy - y0;
          const r0 = y0 * sw;
          const r1 = y1 * sw;
          const i00 = (r0 + x0) * sc;
          const i01 = (r0 + x1) * sc;
          const i10 = (r1 + x0) * sc;
          const i11 = (r1 + x1) * sc;
          a0 += (data[i00]! * (1 - wx) + data[i01]! * wx) * (1 - wy) + (data[i10]! * (1 - wx) + data[i11]! * wx) * wy;
          if (sc === 3) {
            a1 += (data[i00 + 1]! * (1 - wx) + data[i01 + 1]! * wx) * (1 - wy) + (data[i10 + 1]! * (1 - wx) + data[i11 + 1]! * wx) * wy;
            a2 += (data[i00 + 2]! * (1 - wx) + data[i01 + 2]! * wx) * (1 - wy) + (data[i10 + 2]! * (1 - wx) + data[i11 + 2]! * wx) * wy;
          }
        }
      }
      // The 8-bit value(s) warpAffine would store.
      if (gray) q[0] = Math.round((0.299 * a0 + 0.587 * a1 + 0.114 * a2) * k);
      else if (spread) q[0] = q[1] = q[2] = Math.round(a0 * k);
      else {
        q[0] = Math.round(a0 * k);
        q[1] = Math.round(a1 * k);
        q[2] = Math.round(a2 * k);
      }
      const p = (v * W + u) * pStride;
      const pm = (v * W + (W - 1 - u)) * pStride;
      for (let c = 0; c < C; c++) {
        const val = lut[c * 256 + q[c]!]!;
        out[offset + p + c * cStride] = val;
        if (mirrorOffset >= 0) out[mirrorOffset + pm + c * cStride] = val;
      }
    }
  }
}

/** The normalise stage's value of every 8-bit level, per channel (scale and meanstd only). */
function normaliseTable(input: ModelInput): Float32Array {
  const C = input.channels;
  const lut = new Float32Array(256 * C);
  const one = new Uint8Array(C);
  const val = new Float32Array(C);
  const probe: Image8 = { data: one, width: 1, height: 1, channels: C };
  const single: ModelInput = { ...input, width: 1, height: 1, layout: 'NHWC' };
  // Computed by normaliseInto itself, so the table cannot drift from the unfused formula.
  for (let level = 0; level < 256; level++) {
    one.fill(level);
    normaliseInto(probe, single, val, 0);
    for (let c = 0; c < C; c++) lut[c * 256 + level] = val[c]!;
  }
  return lut;
}

/**
 * The aligned crop of `det` for a model, written as its input tensor (see alignNormaliseInto);
 * returns the crop's transform, roll and eye distance as alignFace does.
 */
export function alignFaceInto(image: RgbImage | Image8, det: Detection | undefined, input: ModelInput, out: Float32Array, offset: number, mirrorOffset = -1): ReturnType<typeof cropTransform> {
  const t = cropTransform(det, image, { width: input.width, height: input.height, channels: input.channels, crop: input.crop });
  alignNormaliseInto(image, t.transform, input, out, offset, mirrorOffset);
  return t;
}
