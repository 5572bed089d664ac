/**
 * Activation maps of chosen layers (models exported with `training.export --activations`): per face
 * and layer, the channel-mean map, the per-channel means, the most active channels, and a picture
 * of them over the crop. Pure arithmetic on the classifier's output rows; the pictures reuse the
 * heat colours and blending of heatmap.ts.
 */
import type { ActivationOutput } from '../core/models/manifest.js';
import type { Image8, RgbImage } from '../core/types.js';
import { enlarge, heatImage, overlayHeat, sideBySide, stackRows, tileGrid } from './heatmap.js';

/** One face's maps of one layer: `channels` maps of `height` × `width`, channel-major. */
export interface LayerMaps {
  readonly layer: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly data: ArrayLike<number>;
}

export function layerMaps(spec: ActivationOutput, data: ArrayLike<number>): LayerMaps {
  return { layer: spec.layer, channels: spec.channels, height: spec.height, width: spec.width, data };
}

/** Map `c` (height × width numbers, row-major). */
export function channelMap(m: LayerMaps, c: number): Float64Array {
  const n = m.width * m.height;
  const out = new Float64Array(n);
  for (let p = 0; p < n; p++) out[p] = m.data[c * n + p]!;
  return out;
}

/** Mean of each channel over its cells. */
export function channelMeans(m: LayerMaps): Float64Array {
  const n = m.width * m.height;
  const out = new Float64Array(m.channels);
  for (let c = 0; c < m.channels; c++) {
    let s = 0;
    for (let p = 0; p < n; p++) s += m.data[c * n + p]!;
    out[c] = s / n;
  }
  return out;
}

/** Mean over the channels at each cell (height × width). */
export function meanMap(m: LayerMaps): Float64Array {
  const n = m.width * m.height;
  const out = new Float64Array(n);
  for (let c = 0; c < m.channels; c++) for (let p = 0; p < n; p++) out[p]! += m.data[c * n + p]!;
  for (let p = 0; p < n; p++) out[p]! /= m.channels;
  return out;
}

/** The largest value of a row-major map and its cell (the first on ties). */
export function argmax(map: ArrayLike<number>, width: number): { x: number; y: number; value: number } {
  let best = 0;
  for (let p = 1; p < map.length; p++) if (map[p]! > map[best]!) best = p;
  return { x: best % width, y: Math.floor(best / width), value: map[best]! };
}

/** Indices of the `k` largest values, largest first (lower index first on ties). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: values.length }, (_, i) => i)
    .sort((a, b) => values[b]! - values[a]! || a - b)
    .slice(0, Math.max(0, k));
}

/**
 * A map resized to W × H: `nearest` repeats cells (their true extent), `bilinear` interpolates
 * between cell centres (half-pixel centres, edges clamped: PyTorch's align_corners=False).
 */
export function resizeMap(map: ArrayLike<number>, w: number, h: number, W: number, H: number, mode: 'nearest' | 'bilinear'): Float64Array {
  const out = new Float64Array(W * H);
  for (let Y = 0; Y < H; Y++) {
    for (let X = 0; X < W; X++) {
      if (mode === 'nearest') {
        out[Y * W + X] = map[Math.min(h - 1, Math.floor((Y * h) / H)) * w + Math.min(w - 1, Math.floor((X * w) / W))]!;
        continue;
      }
      const sx = Math.min(w - 1, Math.max(0, ((X + 0.5) * w) / W - 0.5));
      const sy = Math.min(h - 1, Math.max(0, ((Y + 0.5) * h) / H - 0.5));
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(w - 1, x0 + 1);
      const y1 = Math.min(h - 1, y0 + 1);
      const fx = sx - x0;
      const fy = sy - y0;
      const top = map[y0 * w + x0]! * (1 - fx) + map[y0 * w + x1]! * fx;
      const bottom = map[y1 * w + x0]! * (1 - fx) + map[y1 * w + x1]! * fx;
      out[Y * W + X] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

const r5 = (v: number) => Math.round(v * 1e5) / 1e5;

/** The centre of cell (x, y) in crop pixels. */
function cellCentre(m: LayerMaps, crop: { width: number; height: number }, x: number, y: number) {
  return { xPx: r5(((x + 0.5) * crop.width) / m.width), yPx: r5(((y + 0.5) * crop.height) / m.height) };
}

/**
 * explain.json's record of one layer: shape, the channel-mean map with its peak (cell and crop
 * pixels), every channel's mean, and the `top` channels with the largest means (each with its
 * largest cell).
 */
export function layerSummary(m: LayerMaps, crop: { width: number; height: number }, top: number) {
  const mean = meanMap(m);
  const peak = argmax(mean, m.width);
  const means = channelMeans(m);
  return {
    layer: m.layer,
    shape: { channels: m.channels, height: m.height, width: m.width },
    cellPx: { width: r5(crop.width / m.width), height: r5(crop.height / m.height) },
    meanMap: {
      argmax: { x: peak.x, y: peak.y, value: r5(peak.value), crop: cellCentre(m, crop, peak.x, peak.y) },
      min: r5(Math.min(...mean)),
      values: Array.from({ length: m.height }, (_, y) => Array.from(mean.subarray(y * m.width, (y + 1) * m.width), r5)),
    },
    channelMeans: Array.from(means, r5),
    topChannels: topIndices(means, top).map((c) => {
      const a = argmax(channelMap(m, c), m.width);
      return { channel: c, mean: r5(means[c]!), max: r5(a.value), argmax: { x: a.x, y: a.y, crop: cellCentre(m, crop, a.x, a.y) } };
    }),
  };
}

/**
 * One picture of a layer for a face. Top row: the crop; the channel-mean map upsampled (bilinear)
 * and blended over it; the same map alone at its true resolution (nearest), each scaled to the
 * map's largest |value|. Below: the `top` most active channels, each upsampled over the crop, on
 * one common scale (the largest |value| among them) so their brightness compares.
 */
export function activationPicture(crop: Image8, m: LayerMaps, top: number): RgbImage {
  const { width: W, height: H } = crop;
  const k = Math.max(1, Math.round(192 / Math.max(W, H)));
  const mean = meanMap(m);
  const head = sideBySide([
    enlarge(crop, k),
    enlarge(overlayHeat(crop, resizeMap(mean, m.width, m.height, W, H, 'bilinear')), k),
    enlarge(heatImage(resizeMap(mean, m.width, m.height, W, H, 'nearest'), W, H), k),
  ]);
  const channels = topIndices(channelMeans(m), top);
  if (channels.length === 0) return head;
  const maps = channels.map((c) => resizeMap(channelMap(m, c), m.width, m.height, W, H, 'bilinear'));
  const scale = Math.max(...maps.map((a) => Math.max(...a.map(Math.abs))));
  const tile = Math.max(1, Math.round(k / 2));
  const maxColumns = Math.max(1, Math.floor((head.width + 4) / (W * tile + 4)));
  const columns = Math.ceil(channels.length / Math.ceil(channels.length / maxColumns));
  const tiles = maps.map((a) => enlarge(overlayHeat(crop, a, { scale: scale === 0 ? 1 : scale }), tile));
  return stackRows([head, tileGrid(tiles, columns)]);
}
