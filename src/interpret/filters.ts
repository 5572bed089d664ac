/**
 * First-layer filters: an image grid of them, and paper 000's comparison of the first-layer
 * filters of networks trained for different tasks by cosine similarity (its "heat table").
 * Pure functions over a Conv weight (dims out × in × kH × kW).
 */
import { seededRandom } from '../data/loaders/common.js';
import type { RgbImage } from '../core/types.js';
import type { FloatTensor } from './onnx-weights.js';

/** Each filter flattened (in × kH × kW numbers), one row per output channel. */
export function filterRows(w: Pick<FloatTensor, 'dims' | 'data'>): Float32Array[] {
  const [out = 0] = w.dims;
  const size = out === 0 ? 0 : w.data.length / out;
  return Array.from({ length: out }, (_, o) => w.data.slice(o * size, (o + 1) * size));
}

/**
 * A colour filter as it acts on a gray image (R = G = B): the sum of its input channels. This is
 * how the first layers of a gray model and a colour model are compared (and how a gray trunk is
 * carried into a colour network, each channel getting a share of the gray weights).
 */
export function grayEquivalent<T extends Pick<FloatTensor, 'dims' | 'data'>>(w: T): T {
  const [out = 0, cin = 1, kh = 1, kw = 1] = w.dims;
  if (cin === 1) return w;
  const k = kh * kw;
  const data = new Float32Array(out * k);
  for (let o = 0; o < out; o++) for (let c = 0; c < cin; c++) for (let i = 0; i < k; i++) data[o * k + i]! += w.data[(o * cin + c) * k + i]!;
  return { ...w, dims: [out, 1, kh, kw], data };
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** Cosine similarity of every filter of `a` (rows) with every filter of `b` (columns). */
export function cosineMatrix(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number[][] {
  return a.map((x) => b.map((y) => cosine(x, y)));
}

/** For each row, the column with the highest similarity (first on ties). */
export function bestMatches(m: readonly (readonly number[])[]): { index: number; cosine: number }[] {
  return m.map((row) => row.reduce((best, v, j) => (v > best.cosine ? { index: j, cosine: v } : best), { index: -1, cosine: -Infinity }));
}

export function transpose(m: readonly (readonly number[])[]): number[][] {
  const cols = m[0]?.length ?? 0;
  return Array.from({ length: cols }, (_, j) => m.map((row) => row[j]!));
}

/**
 * A one-to-one pairing of rows with columns, greedily by descending similarity: the column order
 * that puts matching filters on the heat table's diagonal. Unpaired columns (more columns than
 * rows) follow in their own order.
 */
export function greedyPairing(m: readonly (readonly number[])[]): number[] {
  const cells = m.flatMap((row, i) => row.map((v, j) => ({ i, j, v }))).sort((x, y) => y.v - x.v || x.i - y.i || x.j - y.j);
  const rowTaken = new Set<number>();
  const colOf = new Map<number, number>();
  const colTaken = new Set<number>();
  for (const c of cells) {
    if (rowTaken.has(c.i) || colTaken.has(c.j)) continue;
    rowTaken.add(c.i);
    colTaken.add(c.j);
    colOf.set(c.i, c.j);
  }
  const cols = m[0]?.length ?? 0;
  const order = m.map((_, i) => colOf.get(i)).filter((j): j is number => j !== undefined);
  for (let j = 0; j < cols; j++) if (!colTaken.has(j)) order.push(j);
  return order;
}

const mean = (v: readonly number[]) => (v.length === 0 ? Number.NaN : v.reduce((a, b) => a + b, 0) / v.length);

export interface SimilaritySummary {
  /** Mean over A's filters of the best cosine with any of B's (and the reverse). */
  readonly meanBestAtoB: number;
  readonly meanBestBtoA: number;
  /** Mean cosine over all pairs. */
  readonly meanAll: number;
  /** Mean of the greedy one-to-one pairing's cosines (the heat table's diagonal). */
  readonly meanPaired: number;
  /**
   * What meanBestAtoB would be by chance: the same for Gaussian random filters of the same count
   * and size (seeded, averaged over `trials`), so the reader can judge whether the match is real.
   */
  readonly chanceMeanBest: number;
}

/** Mean best-match cosine between two sets of independent Gaussian filters (seeded). */
export function chanceMeanBest(rowsA: number, rowsB: number, dim: number, trials = 20, seed = 1): number {
  const random = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const draw = (n: number) => Array.from({ length: n }, () => Array.from({ length: dim }, gauss));
  let total = 0;
  for (let t = 0; t < trials; t++) total += mean(bestMatches(cosineMatrix(draw(rowsA), draw(rowsB))).map((b) => b.cosine));
  return total / trials;
}

export function summarise(m: readonly (readonly number[])[], dim: number): SimilaritySummary {
  const pairing = greedyPairing(m);
  return {
    meanBestAtoB: mean(bestMatches(m).map((b) => b.cosine)),
    meanBestBtoA: mean(bestMatches(transpose(m)).map((b) => b.cosine)),
    meanAll: mean(m.flat()),
    meanPaired: mean(m.map((row, i) => row[pairing[i]!]!)),
    chanceMeanBest: chanceMeanBest(m.length, m[0]?.length ?? 0, dim),
  };
}

export interface GridOptions {
  /** Pixels per weight. @default enough for a filter tile of at least 24 px */
  readonly scale?: number;
  /** Pixels between tiles. @default 2 */
  readonly gap?: number;
  /** Tiles per row. @default ceil(sqrt(filters)) */
  readonly columns?: number;
}

/**
 * The filters as one RGB image: a tile per filter, each scaled to its own largest |weight| so that
 * 0 is mid-gray (128), positive weights lighter and negative darker. Filters over 3 input channels
 * are shown in colour (channel c → R, G, B); others as the mean over their input channels.
 */
export function filterGrid(w: Pick<FloatTensor, 'dims' | 'data'>, o: GridOptions = {}): RgbImage {
  const [out = 0, cin = 1, kh = 1, kw = 1] = w.dims;
  const scale = o.scale ?? Math.max(1, Math.ceil(24 / Math.max(kh, kw)));
  const gap = o.gap ?? 2;
  const columns = o.columns ?? Math.max(1, Math.ceil(Math.sqrt(out)));
  const rows = Math.max(1, Math.ceil(out / columns));
  const tileW = kw * scale;
  const tileH = kh * scale;
  const width = columns * tileW + (columns + 1) * gap;
  const height = rows * tileH + (rows + 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(255);
  const per = cin * kh * kw;
  for (let f = 0; f < out; f++) {
    const base = f * per;
    let maxAbs = 0;
    for (let i = 0; i < per; i++) maxAbs = Math.max(maxAbs, Math.abs(w.data[base + i]!));
    const k = maxAbs === 0 ? 0 : 127 / maxAbs;
    const x0 = gap + (f % columns) * (tileW + gap);
    const y0 = gap + Math.floor(f / columns) * (tileH + gap);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        const rgb = [0, 1, 2].map((ch) => {
          if (cin === 3) return w.data[base + ch * kh * kw + y * kw + x]!;
          let s = 0;
          for (let c = 0; c < cin; c++) s += w.data[base + c * kh * kw + y * kw + x]!;
          return s / cin;
        });
        for (let dy = 0; dy < scale; dy++) {
          for (let dx = 0; dx < scale; dx++) {
            const p = ((y0 + y * scale + dy) * width + x0 + x * scale + dx) * 3;
            for (let ch = 0; ch < 3; ch++) data[p + ch] = Math.round(128 + rgb[ch]! * k);
          }
        }
      }
    }
  }
  return { data, width, height, channels: 3 };
}
