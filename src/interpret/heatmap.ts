/**
 * Heat maps as pictures: a saliency map coloured over its crop. Pure pixel arithmetic; PNG encoding
 * is png.ts's.
 */
import type { Image8, RgbImage } from '../core/types.js';

/**
 * Colour of a signed value t in −1..1: positive (the prediction relies on it) from dark red
 * through orange to yellow, negative (hiding it helps the prediction) blue.
 */
export function heatColour(t: number): [number, number, number] {
  const a = Math.min(1, Math.abs(t));
  if (t < 0) return [Math.round(40 * (1 - a)), Math.round(90 + 60 * (1 - a)), 255];
  return [Math.round(140 + 115 * Math.min(1, 2 * a)), Math.round(255 * Math.max(0, 2 * a - 1)), 0];
}

function rgbAt(img: Image8, p: number): [number, number, number] {
  if (img.channels === 3) return [img.data[3 * p]!, img.data[3 * p + 1]!, img.data[3 * p + 2]!];
  const g = img.data[p]!;
  return [g, g, g];
}

/**
 * The crop with the map blended over it: opacity grows with |value| / `scale` (up to `opacity`),
 * so unimportant regions show the face through. `scale` defaults to the map's largest |value|.
 */
export function overlayHeat(crop: Image8, map: ArrayLike<number>, o: { scale?: number; opacity?: number } = {}): RgbImage {
  const n = crop.width * crop.height;
  let max = o.scale ?? 0;
  if (o.scale === undefined) for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(map[i]!));
  const opacity = o.opacity ?? 0.75;
  const data = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const t = max === 0 ? 0 : map[p]! / max;
    const a = opacity * Math.min(1, Math.abs(t));
    const base = rgbAt(crop, p);
    const heat = heatColour(t);
    for (let c = 0; c < 3; c++) data[3 * p + c] = Math.round((1 - a) * base[c]! + a * heat[c]!);
  }
  return { data, width: crop.width, height: crop.height, channels: 3 };
}

/** The map alone in heat colours (zero black), scaled by its largest |value| unless `scale` is given. */
export function heatImage(map: ArrayLike<number>, width: number, height: number, scale?: number): RgbImage {
  const black: Image8 = { data: new Uint8Array(width * height), width, height, channels: 1 };
  return overlayHeat(black, map, { opacity: 1, ...(scale === undefined ? {} : { scale }) });
}

/** Nearest-neighbour enlargement by a whole factor (keeps the model's pixels visible). */
export function enlarge(img: RgbImage | Image8, factor: number): RgbImage {
  const W = img.width * factor;
  const H = img.height * factor;
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const rgb = rgbAt(img as Image8, Math.floor(y / factor) * img.width + Math.floor(x / factor));
      data.set(rgb, (y * W + x) * 3);
    }
  }
  return { data, width: W, height: H, channels: 3 };
}

/** Images of equal height side by side with a white gap. */
export function sideBySide(images: readonly RgbImage[], gap = 4): RgbImage {
  const height = Math.max(...images.map((i) => i.height));
  const width = images.reduce((s, i) => s + i.width, 0) + gap * (images.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const img of images) {
    for (let y = 0; y < img.height; y++) data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), (y * width + x0) * 3);
    x0 += img.width + gap;
  }
  return { data, width, height, channels: 3 };
}

/** Images one under another, left-aligned, with a white gap (and white to the right of narrower ones). */
export function stackRows(images: readonly RgbImage[], gap = 4): RgbImage {
  const width = Math.max(...images.map((i) => i.width));
  const height = images.reduce((s, i) => s + i.height, 0) + gap * (images.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let y0 = 0;
  for (const img of images) {
    for (let y = 0; y < img.height; y++) data.set(img.data.subarray(y * img.width * 3, (y + 1) * img.width * 3), ((y0 + y) * width) * 3);
    y0 += img.height + gap;
  }
  return { data, width, height, channels: 3 };
}

/** Images in rows of `columns`, left to right then top to bottom, with white gaps. */
export function tileGrid(images: readonly RgbImage[], columns: number, gap = 4): RgbImage {
  const rows: RgbImage[] = [];
  for (let i = 0; i < images.length; i += columns) rows.push(sideBySide(images.slice(i, i + columns), gap));
  return stackRows(rows, gap);
}
