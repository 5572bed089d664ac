import type { ModelInput } from './models/manifest.js';
import type { Image8 } from './types.js';

/**
 * Normalise stage: uint8 HWC crop → float32 tensor values in the model's layout, written into
 * `out` at `offset` (so a batch is filled in place), as the manifest's `normalisation` says.
 */
export function normaliseInto(img: Image8, input: ModelInput, out: Float32Array, offset: number): void {
  const { width: W, height: H, channels: C } = input;
  if (img.width !== W || img.height !== H || img.channels !== C) {
    throw new Error(`crop is ${img.width}×${img.height}×${img.channels}, model wants ${W}×${H}×${C}`);
  }
  const n = W * H;
  const src = img.data;
  const norm = input.normalisation;
  // Index of HWC element (p, c) in the output layout.
  const at = input.layout === 'NCHW' ? (p: number, c: number) => offset + c * n + p : (p: number, c: number) => offset + p * C + c;
  switch (norm.kind) {
    case 'scale':
      for (let p = 0; p < n; p++) for (let c = 0; c < C; c++) out[at(p, c)] = src[p * C + c]! * norm.scale;
      return;
    case 'meanstd':
      for (let p = 0; p < n; p++) for (let c = 0; c < C; c++) out[at(p, c)] = (src[p * C + c]! * norm.scale - norm.mean[c]!) / norm.std[c]!;
      return;
    case 'gcn': {
      // Paper 000: subtract the image's mean, scale its L2 norm to `norm`, then standardise each
      // pixel with the training set's per-pixel mean and std.
      let mean = 0;
      for (let i = 0; i < n * C; i++) mean += src[i]!;
      mean /= n * C;
      let sq = 0;
      for (let i = 0; i < n * C; i++) sq += (src[i]! - mean) ** 2;
      const k = sq > 0 ? norm.norm / Math.sqrt(sq) : 0;
      for (let p = 0; p < n; p++) {
        for (let c = 0; c < C; c++) {
          const i = p * C + c;
          out[at(p, c)] = ((src[i]! - mean) * k - norm.pixelMean[i]!) / norm.pixelStd[i]!;
        }
      }
      return;
    }
  }
}

/** Mirrors an HWC image left-right (test-time flip augmentation). */
export function flipHorizontal(img: Image8): Image8 {
  const { width: W, height: H, channels: C, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const s = (y * W + x) * C;
      const d = (y * W + (W - 1 - x)) * C;
      for (let c = 0; c < C; c++) out[d + c] = data[s + c]!;
    }
  }
  return { data: out, width: W, height: H, channels: C };
}
