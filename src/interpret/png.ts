/** PNG encoding of raw pixels (sharp), as bytes or as a data: URI for the offline HTML pages. */
import sharp from 'sharp';
import type { Image8, RgbImage } from '../core/types.js';

export async function encodePng(img: RgbImage | Image8): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } }).png().toBuffer();
}

export function pngDataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}
