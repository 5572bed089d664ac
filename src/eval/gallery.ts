/** The mistakes gallery: which samples to show, and their thumbnails as inline PNG data URIs. */
import sharp from 'sharp';
import type { SampleImage } from '../data/types.js';

export interface Mistake {
  /** Index of the sample among the evaluated ones. */
  readonly index: number;
  readonly confidence: number;
}

/** The `n` most confident mistakes, highest confidence first (earlier sample first on ties). */
export function mostConfident<T extends Mistake>(items: readonly T[], n: number): T[] {
  return [...items].sort((a, b) => b.confidence - a.confidence || a.index - b.index).slice(0, n);
}

/**
 * A PNG thumbnail (fits in size×size) as a data: URI, or why it could not be made (the file
 * changed since it was classified): the gallery shows the reason instead of the picture.
 */
export async function thumbnail(image: SampleImage, size = 96): Promise<{ readonly uri: string } | { readonly error: string }> {
  const input =
    image.kind === 'file'
      ? sharp(image.path)
      : image.kind === 'encoded'
        ? sharp(image.bytes)
        : sharp(image.pixels.data, { raw: { width: image.pixels.width, height: image.pixels.height, channels: image.pixels.channels } });
  try {
    const png = await input.rotate().resize(size, size, { fit: 'inside' }).png().toBuffer();
    return { uri: `data:image/png;base64,${png.toString('base64')}` };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
