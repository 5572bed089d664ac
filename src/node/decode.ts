import sharp from 'sharp';
import { ImageDecodeError } from '../core/errors.js';
import { videoContainer } from '../core/media-sniff.js';
import { DEFAULT_DECODE_OPTIONS, type DecodeOptions } from '../core/platform.js';
import { fromRaw, isRawImage } from '../core/raw-image.js';
import type { ImageInput, RgbImage } from '../core/types.js';
import { checkImageInput } from '../core/validate.js';
import { readRegularFile } from '../io/safe-read.js';
import { sniffImageFormat } from '../io/sniff.js';
import { decodeJpegFast } from './jpeg.js';

export { DEFAULT_DECODE_OPTIONS, type DecodeOptions };

/** Formats sharp decodes that we accept (GIF: first frame only; HEIF covers AVIF). */
const SUPPORTED = new Set(['jpeg', 'png', 'webp', 'tiff', 'gif', 'heif', 'avif', 'jp2', 'svg', 'raw']);

/**
 * Decode stage: any accepted input → 8-bit RGB with EXIF orientation applied. Everyday JPEGs
 * take the WebAssembly fast path (./jpeg.ts: the same pixels as sharp's, at about half the cost);
 * everything else, and every file that path declines, is decoded by sharp.
 * Gray, gray+alpha, RGBA, CMYK and 16-bit inputs are all normalised to 8-bit sRGB; alpha is
 * flattened onto white (as a viewer shows it) rather than dropped, so transparent regions do not
 * turn into black blobs that confuse the detector.
 */
export async function decodeImage(input: ImageInput, options: Partial<DecodeOptions> = {}): Promise<RgbImage> {
  const opts = { ...DEFAULT_DECODE_OPTIONS, ...options };
  checkImageInput(input, opts.sourceName);
  if (isRawImage(input)) return fromRaw(input, opts);
  const source = typeof input === 'string' ? input : (opts.sourceName ?? '<buffer>');
  const bytes = typeof input === 'string' ? await readRegularFile(input, { checkHeader: (head) => sniffImageFormat(head) !== undefined }) : input;
  if (bytes.byteLength === 0) {
    throw new ImageDecodeError('INPUT_EMPTY', 'the file is empty (0 bytes); it is not an image', { source });
  }
  const sniffed = sniffImageFormat(bytes.subarray(0, 4096));
  if (sniffed === 'heic' || sniffed === 'bmp') {
    throw new ImageDecodeError('UNSUPPORTED_FORMAT', `${sniffed === 'heic' ? 'HEIC (HEVC-coded HEIF)' : 'BMP'} images are not supported; convert it to JPEG, PNG, WebP or AVIF`, { source });
  }
  if (sniffed === 'jpeg') {
    const fast = await decodeJpegFast(bytes, opts.pixelLimit);
    if (fast !== undefined) return fast;
  }
  return decodeWithSharp(bytes, opts.pixelLimit, source, sniffed, typeof input === 'string' ? input : '<file>');
}

/** The sharp decode of any accepted format (decodeImage's path for all but the fast JPEGs). */
export async function decodeWithSharp(bytes: Uint8Array, pixelLimit: number, source: string, sniffed = sniffImageFormat(bytes.subarray(0, 4096)), fileHint = '<file>'): Promise<RgbImage> {
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    const video = videoContainer(bytes);
    if (video !== undefined) {
      throw new ImageDecodeError('UNSUPPORTED_FORMAT', `this is a video (${video}), not an image: analyse it with \`facesense video ${fileHint}\` (openVideo() + createFrameAnalyzer() in the library)`, { source, cause });
    }
    // A recognised header that sharp cannot parse is a damaged file of that format, not an unknown format.
    if (sniffed !== undefined) throw new ImageDecodeError('CORRUPT_IMAGE', `cannot read this ${sniffed.toUpperCase()} file's header (${firstLine(cause)}); the file is truncated or damaged`, { source, cause });
    throw new ImageDecodeError('UNSUPPORTED_FORMAT', `not a readable image (${firstLine(cause)}); supported: JPEG, PNG, WebP, TIFF, GIF, AVIF`, { source, cause });
  }
  if (meta.format === undefined || !SUPPORTED.has(meta.format)) {
    throw new ImageDecodeError('UNSUPPORTED_FORMAT', `unsupported image format "${meta.format ?? 'unknown'}"`, { source });
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > pixelLimit) {
    throw new ImageDecodeError(
      'PIXEL_LIMIT_EXCEEDED',
      `image is ${w}×${h} = ${(w * h / 1e6).toFixed(1)} MP, over the pixel limit of ${(pixelLimit / 1e6).toFixed(1)} MP; downscale it or raise the pixelLimit option`,
      { source },
    );
  }
  try {
    // failOn 'error': a truncated JPEG is an error, not a half-grey image silently analysed.
    const { data, info } = await sharp(bytes, { limitInputPixels: pixelLimit, failOn: 'error', pages: 1 })
      .rotate() // applies EXIF orientation
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after conversion, got ${info.channels}`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (cause) {
    throw new ImageDecodeError('CORRUPT_IMAGE', `cannot decode ${meta.format} image (${firstLine(cause)}); the file is probably truncated or damaged`, { source, cause });
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.trim();
}
