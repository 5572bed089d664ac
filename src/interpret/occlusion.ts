/**
 * Occlusion sensitivity (Zeiler & Fergus 2014), gradient-free saliency for any ONNX model: slide a
 * flat patch over the model's input crop, re-run the model on every occluded copy (batched), and
 * record how much the explained class's probability drops. Regions whose occlusion costs the most
 * are those the prediction rests on. Pure apart from the `score` callback that runs the model.
 */
import { OptionError } from '../core/errors.js';
import type { Image8 } from '../core/types.js';

/** What replaces the occluded pixels: mid-gray (128), the crop's own mean per channel, or black. */
export type OcclusionFill = 'gray' | 'mean' | 'black';
export const OCCLUSION_FILLS: readonly OcclusionFill[] = ['gray', 'mean', 'black'];

export interface OcclusionOptions {
  /** Side of the square patch, crop pixels. @default round(min(width, height) / 6) */
  readonly patch?: number;
  /** Step between patch positions, crop pixels. @default max(1, round(patch / 4)) */
  readonly stride?: number;
  /** @default 'gray' */
  readonly fill?: OcclusionFill;
  /** Occluded crops per model call. @default 256 */
  readonly batch?: number;
}

export interface OcclusionMap {
  readonly width: number;
  readonly height: number;
  readonly patch: number;
  readonly stride: number;
  readonly fill: OcclusionFill;
  /** The explained class's probability on the unoccluded crop. */
  readonly baseline: number;
  /** Left and top edges of the patch positions. */
  readonly xs: readonly number[];
  readonly ys: readonly number[];
  /** baseline − probability with the patch at (xs[i], ys[j]), row-major: drops[j · xs.length + i]. */
  readonly drops: Float64Array;
  /** Per crop pixel (row-major, width × height): mean drop over the patch positions covering it. */
  readonly map: Float64Array;
}

/** Patch sizes that suit a crop: a sixth of its side, moved a quarter patch at a time. */
export function defaultPatch(width: number, height: number): { patch: number; stride: number } {
  const patch = Math.max(1, Math.round(Math.min(width, height) / 6));
  return { patch, stride: Math.max(1, Math.round(patch / 4)) };
}

/** Patch start positions along a side: every `stride`, plus one flush with the far edge so every pixel is covered. */
export function patchStarts(size: number, patch: number, stride: number): number[] {
  const out: number[] = [];
  for (let s = 0; s + patch <= size; s += stride) out.push(s);
  if (out[out.length - 1] !== size - patch) out.push(size - patch);
  return out;
}

/** The fill value of each channel. */
export function fillValues(crop: Image8, fill: OcclusionFill): number[] {
  const c = crop.channels;
  if (fill === 'gray') return new Array<number>(c).fill(128);
  if (fill === 'black') return new Array<number>(c).fill(0);
  const sums = new Array<number>(c).fill(0);
  for (let i = 0; i < crop.data.length; i++) sums[i % c]! += crop.data[i]!;
  return sums.map((s) => Math.round((s * c) / crop.data.length));
}

/** A copy of the crop with the patch at (x, y) set to `values`. */
export function occlude(crop: Image8, x: number, y: number, patch: number, values: readonly number[]): Image8 {
  const data = Uint8Array.from(crop.data);
  const c = crop.channels;
  for (let v = y; v < Math.min(crop.height, y + patch); v++) {
    for (let u = x; u < Math.min(crop.width, x + patch); u++) {
      for (let ch = 0; ch < c; ch++) data[(v * crop.width + u) * c + ch] = values[ch]!;
    }
  }
  return { ...crop, data };
}

/** Checks and completes the options for a crop; throws an OptionError naming the bad one. */
export function resolveOcclusion(crop: { width: number; height: number }, o: OcclusionOptions): Required<OcclusionOptions> {
  const d = defaultPatch(crop.width, crop.height);
  const patch = o.patch ?? d.patch;
  const stride = o.stride ?? (o.patch === undefined ? d.stride : Math.max(1, Math.round(patch / 4)));
  const side = Math.min(crop.width, crop.height);
  if (!Number.isInteger(patch) || patch < 1 || patch > side) throw new OptionError(`--patch must be a whole number of pixels from 1 to ${side} (the model's input is ${crop.width}×${crop.height}), got ${patch}`);
  if (!Number.isInteger(stride) || stride < 1 || stride > side) throw new OptionError(`--stride must be a whole number of pixels from 1 to ${side}, got ${stride}`);
  return { patch, stride, fill: o.fill ?? 'gray', batch: o.batch ?? 256 };
}

/**
 * The occlusion map of one crop. `score` runs the model on crops and returns the explained class's
 * probability for each, in order.
 */
export async function occlusionSensitivity(crop: Image8, score: (crops: readonly Image8[]) => Promise<readonly number[]>, options: OcclusionOptions = {}): Promise<OcclusionMap> {
  const { patch, stride, fill, batch } = resolveOcclusion(crop, options);
  const xs = patchStarts(crop.width, patch, stride);
  const ys = patchStarts(crop.height, patch, stride);
  const values = fillValues(crop, fill);
  const [baseline] = await score([crop]);
  if (baseline === undefined) throw new Error('score returned nothing for the crop');
  const positions = ys.flatMap((y) => xs.map((x) => ({ x, y })));
  const drops = new Float64Array(positions.length);
  for (let start = 0; start < positions.length; start += batch) {
    const chunk = positions.slice(start, start + batch);
    const p = await score(chunk.map(({ x, y }) => occlude(crop, x, y, patch, values)));
    chunk.forEach((_, k) => (drops[start + k] = baseline - p[k]!));
  }
  const sum = new Float64Array(crop.width * crop.height);
  const count = new Float64Array(crop.width * crop.height);
  positions.forEach(({ x, y }, k) => {
    for (let v = y; v < y + patch; v++) {
      for (let u = x; u < x + patch; u++) {
        sum[v * crop.width + u]! += drops[k]!;
        count[v * crop.width + u]! += 1;
      }
    }
  });
  const map = sum.map((s, i) => (count[i]! === 0 ? 0 : s / count[i]!));
  return { width: crop.width, height: crop.height, patch, stride, fill, baseline, xs, ys, drops, map };
}

/** The patch position with the largest drop (the first on ties). */
export function largestDrop(m: OcclusionMap): { x: number; y: number; drop: number } {
  let best = 0;
  for (let k = 1; k < m.drops.length; k++) if (m.drops[k]! > m.drops[best]!) best = k;
  return { x: m.xs[best % m.xs.length]!, y: m.ys[Math.floor(best / m.xs.length)]!, drop: m.drops[best]! };
}
