import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { ImageDecodeError, OptionError } from '../src/core/errors.js';
import { applyPerturbation, parsePerturbation, perturbationName, yawWarp } from '../src/eval/perturb.js';
import type { RawImage } from '../src/core/types.js';

/** A 40x30 RGB checkerboard of 2-px squares (strong high frequencies) with a red tint. */
function checker(): RawImage {
  const width = 40;
  const height = 30;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = (Math.floor(x / 2) + Math.floor(y / 2)) % 2 === 0 ? 40 : 200;
      data.set([Math.min(255, v + 40), v, v], (y * width + x) * 3);
    }
  }
  return { data, width, height, channels: 3 };
}

async function pixels(bytes: Uint8Array): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

const mean = (d: Uint8Array) => d.reduce((a, b) => a + b, 0) / d.length;
/** Mean absolute difference of horizontally adjacent pixels: high for the checkerboard, low once blurred. */
function sharpness(p: { data: Uint8Array; width: number; height: number; channels: number }): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < p.height; y++) {
    for (let x = 1; x < p.width; x++) {
      sum += Math.abs(p.data[(y * p.width + x) * p.channels]! - p.data[(y * p.width + x - 1) * p.channels]!);
      n++;
    }
  }
  return sum / n;
}

test('parsePerturbation reads each degradation and refuses bad values with an OptionError', () => {
  assert.deepEqual(parsePerturbation('jpeg:30'), { kind: 'jpeg', quality: 30 });
  assert.deepEqual(parsePerturbation('blur:2'), { kind: 'blur', sigma: 2 });
  assert.deepEqual(parsePerturbation('downscale:0.3'), { kind: 'downscale', factor: 0.3 });
  assert.deepEqual(parsePerturbation('gray'), { kind: 'gray' });
  assert.deepEqual(parsePerturbation('brightness:-60'), { kind: 'brightness', offset: -60 });
  assert.deepEqual(parsePerturbation('contrast:0.5'), { kind: 'contrast', factor: 0.5 });
  assert.deepEqual(parsePerturbation('yaw:-30'), { kind: 'yaw', degrees: -30 });
  assert.equal(perturbationName(parsePerturbation('yaw:30')), 'yaw+30');
  assert.equal(perturbationName(parsePerturbation('brightness:40')), 'brightness+40');
  for (const bad of ['jpeg', 'jpeg:0', 'jpeg:abc', 'blur:0.1', 'downscale:1', 'downscale:0', 'gray:2', 'contrast:0', 'yaw', 'yaw:61', 'yaw:-90', 'sepia', 'jpeg:30:1']) {
    assert.throws(() => parsePerturbation(bad), (e: unknown) => e instanceof OptionError && e.message.includes(`--perturb ${bad}`), bad);
  }
});

test('applyPerturbation degrades the image and keeps its size', async () => {
  const img = checker();
  const original = { data: Buffer.from(img.data), width: 40, height: 30, channels: 3 };
  const jpeg = await applyPerturbation(img, { kind: 'jpeg', quality: 20 });
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
  const gray = await pixels(await applyPerturbation(img, { kind: 'gray' }));
  assert.equal(gray.width, 40);
  if (gray.channels === 3) for (let i = 0; i < gray.data.length; i += 3) assert.ok(gray.data[i] === gray.data[i + 1] && gray.data[i + 1] === gray.data[i + 2]);
  for (const p of [{ kind: 'blur', sigma: 2 }, { kind: 'downscale', factor: 0.25 }] as const) {
    const out = await pixels(await applyPerturbation(img, p));
    assert.deepEqual([out.width, out.height], [40, 30]);
    assert.ok(sharpness(out) < sharpness(original) / 3, `${p.kind} keeps the checkerboard's edges`);
  }
  const dark = await pixels(await applyPerturbation(img, { kind: 'brightness', offset: -30 }));
  assert.ok(Math.abs(mean(dark.data) - (mean(original.data) - 30)) < 2);
  const flat = await pixels(await applyPerturbation(img, { kind: 'contrast', factor: 0.5 }));
  assert.ok(sharpness(flat) < sharpness(original) * 0.6 && sharpness(flat) > sharpness(original) * 0.4);
  await assert.rejects(applyPerturbation(new Uint8Array([1, 2, 3]), { kind: 'gray' }), ImageDecodeError);
});

test('yawWarp turns the picture in perspective: 0 degrees is the identity, +DEG narrows the far side, -DEG mirrors it', async () => {
  // A 60x40 gray ramp of vertical stripes: column x has value 4x, so a column's value says where it came from.
  const [w, h] = [60, 40];
  const ramp = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) ramp[y * w + x] = 4 * x;
  assert.deepEqual(yawWarp(ramp, w, h, 1, 0), ramp);
  const turned = yawWarp(ramp, w, h, 1, 30);
  const row = (img: Uint8Array, y: number) => [...img.subarray(y * w, (y + 1) * w)];
  const mid = row(turned, h / 2);
  // The centre column stays, the values still increase left to right...
  assert.ok(Math.abs(mid[30]! - 4 * 30) <= 4, `centre ${mid[30]}`);
  for (let x = 1; x < w; x++) assert.ok(mid[x]! >= mid[x - 1]!);
  // ...the far side (+DEG turns the right half away) ends before the edge, which then repeats,
  // while the near left half, magnified by perspective, still spans about its width.
  const right = w - 1 - [...mid].reverse().findIndex((v) => v < 4 * (w - 1));
  const left = Math.max(0, mid.findIndex((v) => v > 0) - 1);
  assert.ok(right < 55, `far side ends at column ${right}`);
  assert.ok(right - 30 < 30 - left - 3, `right half ${right - 30} px vs left half ${30 - left} px`);
  const mirrored = yawWarp(ramp.slice().reverse(), w, h, 1, -30).reverse();
  assert.deepEqual(mirrored, turned);
  const img = checker();
  const out = await pixels(await applyPerturbation(img, { kind: 'yaw', degrees: 25 }));
  assert.deepEqual([out.width, out.height], [40, 30]);
});
