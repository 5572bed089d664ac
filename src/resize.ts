import sharp from 'sharp';
import type { RgbImage } from './types.js';

/** Resizes RGB pixels with sharp (libvips, off the main thread); `fill` ignores aspect ratio. */
export async function resizeRgb(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  if (img.width === width && img.height === height) return img;
  const data = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false }) // already decoded within the caller's pixel limit
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 3 };
}
