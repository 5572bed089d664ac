import { warpAffine } from './align.js';
import type { RgbImage } from './types.js';

/**
 * Resizes RGB pixels to width × height (aspect ratio not kept) with the align stage's warp
 * (bilinear, supersampled when shrinking), so every platform feeds the detector identical pixels.
 */
export function resizeRgb(img: RgbImage, width: number, height: number): RgbImage {
  if (img.width === width && img.height === height) return img;
  const { data } = warpAffine(img, { a: img.width / width, b: 0, c: 0, d: img.height / height, tx: 0, ty: 0 }, width, height, 3);
  return { data, width, height, channels: 3 };
}
