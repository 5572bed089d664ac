import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { decodeImage } from '../src/node/decode.js';
import { rgbaToRgbInto } from '../src/core/raw-image.js';
import { ImageDecodeError } from '../src/core/errors.js';
import { media, tempDir } from './helpers/media.js';

async function expectCode(p: Promise<unknown>, code: string, mentions?: string) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImageDecodeError, `expected ImageDecodeError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (mentions !== undefined) assert.ok(e.message.includes(mentions), `message "${e.message}" should name ${mentions}`);
    return true;
  });
}

test('decodes JPEG, gray JPEG and RGBA PNG to 8-bit RGB', async () => {
  const rgb = await decodeImage(media('multi_face.jpg'));
  assert.deepEqual([rgb.width, rgb.height, rgb.channels, rgb.data.length], [1000, 667, 3, 1000 * 667 * 3]);
  const gray = await decodeImage(media('BWPictureHuman.jpg'));
  assert.deepEqual([gray.width, gray.height, gray.channels], [2560, 1912, 3]);
  const i = 3 * (1000 * 2560 + 1000);
  assert.equal(gray.data[i], gray.data[i + 1]);
  const rgba = await decodeImage(media('Image_with_alpha.png'));
  assert.deepEqual([rgba.width, rgba.height, rgba.channels], [1524, 1036, 3]);
});

test('decodes WebP, TIFF, GIF (first frame), AVIF, CMYK and 16-bit inputs', async () => {
  const base = sharp(media('single_face.jpg')).resize(64, 64);
  const inputs: [string, Buffer][] = [
    ['webp', await base.clone().webp().toBuffer()],
    ['tiff', await base.clone().tiff().toBuffer()],
    ['gif', await base.clone().gif().toBuffer()],
    ['avif', await base.clone().avif({ effort: 0 }).toBuffer()],
    ['cmyk', await base.clone().toColourspace('cmyk').jpeg().toBuffer()],
    ['png16', await base.clone().toColourspace('rgb16').png().toBuffer()],
    ['gray-alpha', await base.clone().greyscale().ensureAlpha(0.5).png().toBuffer()],
  ];
  for (const [name, buf] of inputs) {
    const img = await decodeImage(buf, { sourceName: name });
    assert.deepEqual([img.width, img.height, img.channels, img.data.length], [64, 64, 3, 64 * 64 * 3], name);
  }
});

test('applies EXIF orientation', async () => {
  const buf = await sharp(media('single_face.jpg')).resize(60, 40, { fit: 'fill' }).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  const img = await decodeImage(buf);
  assert.deepEqual([img.width, img.height], [40, 60]);
});

test('accepts raw pixels: gray, RGB and RGBA (canvas ImageData)', async () => {
  const gray = await decodeImage({ data: new Uint8Array([0, 128, 255, 10]), width: 2, height: 2, channels: 1 });
  assert.deepEqual(Array.from(gray.data.slice(0, 6)), [0, 0, 0, 128, 128, 128]);
  const rgba = await decodeImage({ data: new Uint8ClampedArray([255, 0, 0, 255, 0, 0, 0, 0]), width: 2, height: 1, channels: 4 });
  assert.deepEqual(Array.from(rgba.data), [255, 0, 0, 255, 255, 255]);
  await expectCode(decodeImage({ data: new Uint8Array(5), width: 2, height: 2, channels: 1 }), 'INVALID_PIXELS');
});

test('RGBA → RGB: opaque runs copied four pixels at a time, translucent pixels composited over white, the same bytes as per pixel', () => {
  for (const n of [1, 3, 4, 5, 8, 61, 640 * 3 + 1]) {
    const data = new Uint8ClampedArray(n * 4);
    for (let i = 0; i < data.length; i++) data[i] = (i * 97 + 13) % 256;
    // Mostly opaque, with translucent pixels here and there (every 7th, and all of the last 3).
    for (let p = 0; p < n; p++) data[4 * p + 3] = p % 7 === 3 || p >= n - 3 ? (p * 31) % 255 : 255;
    const want = new Uint8Array(n * 3);
    for (let p = 0; p < n; p++) {
      const a = data[4 * p + 3]! / 255;
      for (let c = 0; c < 3; c++) want[3 * p + c] = data[4 * p + 3] === 255 ? data[4 * p + c]! : Math.round(data[4 * p + c]! * a + 255 * (1 - a));
    }
    const got = new Uint8Array(n * 3);
    rgbaToRgbInto(data, n, got);
    assert.deepEqual(got, want, `n = ${n}`);
  }
});

test('typed, actionable errors for bad files', async () => {
  const dir = await tempDir();
  const empty = join(dir, 'empty.jpg');
  await writeFile(empty, '');
  await expectCode(decodeImage(empty), 'INPUT_EMPTY', empty);
  const text = join(dir, 'notes.jpg');
  await writeFile(text, 'this is not an image\n');
  await expectCode(decodeImage(text), 'UNSUPPORTED_FORMAT', text);
  const full = await readFile(media('single_face.jpg'));
  const truncated = join(dir, 'truncated.jpg');
  await writeFile(truncated, full.subarray(0, Math.floor(full.length / 2)));
  await expectCode(decodeImage(truncated), 'CORRUPT_IMAGE', truncated);
  await expectCode(decodeImage(join(dir, 'missing.jpg')), 'INPUT_NOT_FOUND', 'missing.jpg');
  await expectCode(decodeImage(dir), 'INPUT_UNREADABLE', dir);
  await expectCode(decodeImage(media('BWPictureHuman.jpg'), { pixelLimit: 1_000_000 }), 'PIXEL_LIMIT_EXCEEDED', 'pixel limit');
});

test('rejects a decompression bomb by its header, before decoding', async () => {
  // 12000×10000 PNG of one colour compresses to a few hundred KB but would need 360 MB decoded.
  const bomb = await sharp({ create: { width: 12000, height: 10000, channels: 3, background: '#000' } }).png({ compressionLevel: 9 }).toBuffer();
  assert.ok(bomb.length < 2_000_000);
  const t = performance.now();
  await expectCode(decodeImage(bomb, { sourceName: 'bomb.png' }), 'PIXEL_LIMIT_EXCEEDED', 'bomb.png');
  assert.ok(performance.now() - t < 2000);
});
