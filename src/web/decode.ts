/**
 * The browser decode stage: every image source a page has → 8-bit RGB through an OffscreenCanvas
 * (EXIF orientation applied by the browser), then the core's raw-pixel checks. Works in a window
 * and in a Web Worker.
 */
import { ImageDecodeError } from '../core/errors.js';
import type { DecodeOptions } from '../core/platform.js';
import { fromRaw, isRawImage } from '../core/raw-image.js';
import type { RawImage, RgbImage } from '../core/types.js';

/** What `facesense/web` analyses. Encoded bytes and Blobs are decoded by the browser; a string is a URL. */
export type WebImageInput = RawImage | ImageData | ImageBitmap | HTMLImageElement | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | VideoFrame | Blob | Uint8Array | string;

type Drawable = ImageBitmap | HTMLImageElement | HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | VideoFrame;

function sizeOf(src: Drawable): { width: number; height: number } {
  if (typeof HTMLVideoElement !== 'undefined' && src instanceof HTMLVideoElement) return { width: src.videoWidth, height: src.videoHeight };
  if (typeof HTMLImageElement !== 'undefined' && src instanceof HTMLImageElement) return { width: src.naturalWidth, height: src.naturalHeight };
  if (typeof VideoFrame !== 'undefined' && src instanceof VideoFrame) return { width: src.displayWidth, height: src.displayHeight };
  return { width: (src as ImageBitmap).width, height: (src as ImageBitmap).height };
}

/** RGBA pixels of a drawable (a video's current frame), as raw pixels. */
export function pixelsOf(src: Drawable, source: string, pixelLimit: number): RawImage {
  const { width, height } = sizeOf(src);
  if (width === 0 || height === 0) throw new ImageDecodeError('INVALID_PIXELS', 'the image has no pixels yet (not loaded, or a video before its first frame)', { source });
  if (width * height > pixelLimit) throw new ImageDecodeError('PIXEL_LIMIT_EXCEEDED', `image is ${width}×${height}, over the pixel limit of ${pixelLimit} pixels`, { source });
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (ctx === null) throw new ImageDecodeError('INPUT_UNREADABLE', 'this browser gives no 2D canvas to read pixels with', { source });
  ctx.drawImage(src, 0, 0, width, height);
  return { data: ctx.getImageData(0, 0, width, height).data, width, height, channels: 4 };
}

async function fromBlob(blob: Blob, source: string, pixelLimit: number): Promise<RawImage> {
  if (blob.size === 0) throw new ImageDecodeError('INPUT_EMPTY', 'the file is empty (0 bytes); it is not an image', { source });
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  } catch (cause) {
    throw new ImageDecodeError('UNSUPPORTED_FORMAT', `not an image this browser can decode (${cause instanceof Error ? cause.message : String(cause)}); supported: JPEG, PNG, WebP, GIF, AVIF`, { source, cause });
  }
  try {
    return pixelsOf(bitmap, source, pixelLimit);
  } finally {
    bitmap.close();
  }
}

/** The decode stage of `facesense/web`. */
export async function decodeWebImage(input: WebImageInput, options: DecodeOptions): Promise<RgbImage> {
  const source = typeof input === 'string' ? input : (options.sourceName ?? '<image>');
  const opts = { ...options, sourceName: source };
  if (typeof input === 'string') {
    let response: Response;
    try {
      response = await fetch(input);
    } catch (cause) {
      throw new ImageDecodeError('INPUT_UNREADABLE', `cannot fetch the image (${cause instanceof Error ? cause.message : String(cause)})`, { source, cause });
    }
    if (!response.ok) throw new ImageDecodeError(response.status === 404 ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE', `HTTP ${response.status} fetching the image`, { source });
    return fromRaw(await fromBlob(await response.blob(), source, opts.pixelLimit), opts);
  }
  if (input instanceof Uint8Array) return fromRaw(await fromBlob(new Blob([input as Uint8Array<ArrayBuffer>]), source, opts.pixelLimit), opts);
  if (input instanceof Blob) return fromRaw(await fromBlob(input, source, opts.pixelLimit), opts);
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) return fromRaw({ data: input.data, width: input.width, height: input.height, channels: 4 }, opts);
  if (isRawImage(input)) return fromRaw(input, opts);
  return fromRaw(pixelsOf(input as Drawable, source, opts.pixelLimit), opts);
}
