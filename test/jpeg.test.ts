import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import sharp from 'sharp';
import { toBgrPlanar } from '../src/core/detect/yunet.js';
import { ImageDecodeError } from '../src/core/errors.js';
import { decodeImage, decodeWithSharp } from '../src/node/decode.js';
import { decodeJpegFast, fastPathEligible, readJpegInfo } from '../src/node/jpeg.js';
import { media } from './helpers/media.js';

/** sharp's decode (decodeImage's path for every other file): the reference the fast path must equal. */
const viaSharp = (bytes: Uint8Array) => decodeWithSharp(bytes, 1e9, '<test>');

/** A JPEG with an EXIF orientation and no ICC profile (sharp's withMetadata adds one: its APP2 segments are cut out). */
async function oriented(base: Buffer, orientation: number): Promise<Uint8Array> {
  const b = new Uint8Array(await sharp(base).withMetadata({ orientation }).jpeg().toBuffer());
  const parts: Uint8Array[] = [b.subarray(0, 2)];
  let p = 2;
  while (b[p + 1] !== 0xda) {
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (b[p + 1] !== 0xe2) parts.push(b.subarray(p, p + 2 + len));
    p += 2 + len;
  }
  parts.push(b.subarray(p));
  const out = new Uint8Array(parts.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of parts) {
    out.set(x, o);
    o += x.length;
  }
  assert.equal(readJpegInfo(out)?.orientation, orientation);
  assert.equal(readJpegInfo(out)?.icc, false);
  return out;
}

test('the fast JPEG path gives sharp\'s pixels bit for bit: photos, every EXIF orientation, gray, progressive, 4:4:4', async () => {
  const photo = await sharp(media('multi_face.jpg')).resize(331, 217).jpeg({ quality: 85 }).toBuffer();
  const cases: [string, Uint8Array][] = [
    ['resized photo', new Uint8Array(photo)],
    ['progressive', new Uint8Array(await sharp(photo).jpeg({ progressive: true }).toBuffer())],
    ['gray, one component', new Uint8Array(await sharp(photo).toColourspace('b-w').jpeg().toBuffer())],
    ['4:4:4', new Uint8Array(await sharp(photo).jpeg({ chromaSubsampling: '4:4:4' }).toBuffer())],
    ['odd size 7×5', new Uint8Array(await sharp(photo).resize(7, 5).jpeg().toBuffer())],
    ['mountain (media)', new Uint8Array(await readFile(media('free-mountain-vector-01.jpg')))],
  ];
  for (let o = 1; o <= 8; o++) cases.push([`orientation ${o}`, await oriented(photo, o)]);
  for (const [name, bytes] of cases) {
    const info = readJpegInfo(bytes);
    assert.ok(fastPathEligible(info, 1e9), `${name}: should take the fast path (${JSON.stringify(info)})`);
    const fast = await decodeJpegFast(bytes, 1e9);
    assert.ok(fast !== undefined, `${name}: the fast path declined it`);
    const ref = await viaSharp(bytes);
    assert.deepEqual([fast.width, fast.height], [ref.width, ref.height], `${name}: size`);
    assert.ok(Buffer.from(fast.data).equals(Buffer.from(ref.data)), `${name}: pixels differ from sharp's`);
    // decodeImage takes it and returns the same pixels.
    assert.ok(Buffer.from((await decodeImage(bytes)).data).equals(Buffer.from(ref.data)), `${name}: decodeImage`);
  }
  // 5–8 swap width and height, as libvips' autorotate does.
  assert.equal((await decodeJpegFast(await oriented(photo, 6), 1e9))?.width, 217);
});

test('the fast JPEG path declines what sharp must decide: ICC profiles, CMYK, truncated or damaged files, over-limit sizes', async () => {
  const photo = await sharp(media('multi_face.jpg')).resize(120, 80).jpeg().toBuffer();
  // single_face.jpg carries an ICC profile: sharp converts through it, so the fast path must not run.
  const icc = new Uint8Array(await readFile(media('single_face.jpg')));
  assert.equal(readJpegInfo(icc)?.icc, true);
  assert.equal(await decodeJpegFast(icc, 1e9), undefined);
  const cmyk = new Uint8Array(await sharp(photo).toColourspace('cmyk').jpeg().toBuffer());
  assert.equal(await decodeJpegFast(cmyk, 1e9), undefined);
  const truncated = new Uint8Array(photo.subarray(0, Math.floor(photo.length / 2)));
  assert.equal(readJpegInfo(truncated)?.endsWithEoi, false);
  assert.equal(await decodeJpegFast(truncated, 1e9), undefined);
  // Damaged entropy-coded data that still ends in EOI: libjpeg warns, so the fast path hands it on.
  const damaged = new Uint8Array(photo);
  const sos = damaged.findIndex((b, i) => b === 0xff && damaged[i + 1] === 0xda);
  for (let i = sos + 40; i < sos + 140; i++) damaged[i] = 0xff;
  assert.equal(await decodeJpegFast(damaged, 1e9), undefined);
  assert.equal(await decodeJpegFast(new Uint8Array(photo), 120 * 80 - 1), undefined, 'over the pixel limit');
  assert.equal(readJpegInfo(new TextEncoder().encode('not a jpeg at all')), undefined);
  assert.equal(readJpegInfo(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0xff, 0xff])), undefined, 'segment longer than the file');
  // The typed errors of the sharp path are unchanged for these files.
  await assert.rejects(decodeImage(truncated, { sourceName: 'half.jpg' }), (e: unknown) => e instanceof ImageDecodeError && e.code === 'CORRUPT_IMAGE' && e.message.includes('half.jpg'));
  await assert.rejects(decodeImage(new Uint8Array(photo), { pixelLimit: 100, sourceName: 'big.jpg' }), (e: unknown) => e instanceof ImageDecodeError && e.code === 'PIXEL_LIMIT_EXCEEDED');
  // After the decoder rejected files, it still decodes (libjpeg's exit does not break the module).
  assert.ok((await decodeJpegFast(new Uint8Array(photo), 1e9)) !== undefined);
});

test('the detector\'s input tensor is the same fresh or written over a reused buffer (padding cleared)', () => {
  const img = { data: Uint8Array.from({ length: 30 * 17 * 3 }, (_, i) => (i * 37) % 256), width: 30, height: 17, channels: 3 as const };
  const fresh = toBgrPlanar(img, 32, 32);
  const reused = toBgrPlanar(img, 32, 32, new Float32Array(3 * 32 * 32).fill(99));
  assert.deepEqual(Array.from(reused), Array.from(fresh));
  // BGR planes: pixel (x=1, y=2) of the image.
  const i = 3 * (2 * 30 + 1);
  const o = 2 * 32 + 1;
  assert.deepEqual([fresh[o], fresh[1024 + o], fresh[2048 + o]], [img.data[i + 2], img.data[i + 1], img.data[i]]);
  assert.equal(fresh[31], 0);
  assert.equal(fresh[20 * 32], 0);
});

test('fuzz: 500 byte-mutated JPEGs give RGB or a typed error, the fast path accepts nothing sharp rejects, and the decoder recovers', async () => {
  const base = new Uint8Array(await sharp(media('multi_face.jpg')).resize(96, 64).jpeg({ quality: 80 }).toBuffer());
  let seed = 20261207;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  let fast = 0;
  for (let c = 0; c < 500; c++) {
    const b = new Uint8Array(base);
    // Header bytes, any bytes, or 0xFF (a stray marker) at one to four places.
    for (let f = 1 + Math.floor(rnd() * 4); f > 0; f--) b[c % 3 === 0 ? Math.floor(rnd() * 200) : Math.floor(rnd() * b.length)] = c % 3 === 2 ? 0xff : Math.floor(rnd() * 256);
    const viaFast = await decodeJpegFast(b, 1e9);
    const viaSharp = await decodeWithSharp(b, 1e9, `case ${c}`).then((r) => r, (e: unknown) => e);
    if (viaFast !== undefined) {
      fast++;
      assert.ok(!(viaSharp instanceof Error), `case ${c}: the fast path decoded a file sharp rejects (${String(viaSharp)})`);
      assert.deepEqual([viaFast.width, viaFast.height], [96, 64]);
    }
    await decodeImage(b, { sourceName: `case ${c}` }).then(
      (r) => assert.equal(r.data.length, r.width * r.height * 3),
      (e: unknown) => assert.ok(e instanceof ImageDecodeError, `case ${c}: ${String(e)}`),
    );
  }
  assert.ok(fast > 60, `the fast path took ${fast} of 500 (damaged files it decodes without a warning)`);
  // Hundreds of libjpeg errors later, the decoder still gives the original's exact pixels.
  const again = await decodeJpegFast(base, 1e9);
  assert.ok(again !== undefined && Buffer.from(again.data).equals(Buffer.from((await viaSharp(base)).data)));
});
