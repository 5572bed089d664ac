import { ImageDecodeError } from './errors.js';
import type { DecodeOptions } from './platform.js';
import type { RawImage, RgbImage } from './types.js';

/** Whether an input is raw pixels (`{ data, width, height, channels }`) rather than a path or encoded bytes. */
export function isRawImage(input: unknown): input is RawImage {
  return typeof input === 'object' && input !== null && !(input instanceof Uint8Array) && 'width' in input;
}

/** Raw pixels (gray, RGB, or RGBA composited over white) → checked 8-bit RGB. */
export function fromRaw(img: RawImage, opts: DecodeOptions): RgbImage {
  const source = opts.sourceName ?? '<pixels>';
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageDecodeError('INVALID_PIXELS', `raw image size must be positive integers (got ${width}×${height})`, { source });
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new ImageDecodeError('INVALID_PIXELS', `raw image channels must be 1, 3 or 4 (got ${String(channels)})`, { source });
  }
  if (width * height > opts.pixelLimit) {
    throw new ImageDecodeError('PIXEL_LIMIT_EXCEEDED', `raw image is ${width}×${height}, over the pixel limit of ${opts.pixelLimit} pixels`, { source });
  }
  const n = width * height;
  if (data.length !== n * channels) {
    throw new ImageDecodeError('INVALID_PIXELS', `raw image data has ${data.length} bytes; ${width}×${height}×${channels} needs ${n * channels}`, { source });
  }
  if (channels === 3) return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width, height, channels: 3 };
  const out = new Uint8Array(n * 3);
  if (channels === 1) {
    for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[i]!;
  } else {
    // RGBA (canvas ImageData): composite over white, as the file path does.
    // Opaque pixels (every camera frame) are copied as they are: the same numbers, without the float math.
    for (let i = 0; i < n; i++) {
      const a8 = data[4 * i + 3]!;
      if (a8 === 255) {
        out[3 * i] = data[4 * i]!;
        out[3 * i + 1] = data[4 * i + 1]!;
        out[3 * i + 2] = data[4 * i + 2]!;
        continue;
      }
      const a = a8 / 255;
      for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(data[4 * i + c]! * a + 255 * (1 - a));
    }
  }
  return { data: out, width, height, channels: 3 };
}
