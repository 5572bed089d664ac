import assert from 'node:assert/strict';
import { test } from 'node:test';
import { warpAffine } from '../src/core/align.js';
import { resizeRgb } from '../src/core/resize.js';
import type { RgbImage } from '../src/core/types.js';

function noise(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels: 3 };
}

test('the detector resize equals the align stage\'s warp with a pure scale, byte for byte', () => {
  for (const [w, h, tw, th] of [
    [1000, 667, 640, 427],
    [640, 480, 320, 240], // whole-factor shrinks (2, 3, 4) take resizeRgb's box path
    [640, 480, 160, 120],
    [900, 600, 300, 200],
    [1280, 720, 320, 180],
    [641, 480, 320, 240], // not a whole factor on one side: the general path
    [97, 53, 200, 120],
    [3000, 40, 640, 9],
    [31, 31, 30, 29],
  ] as const) {
    const img = noise(w, h, w * 31 + h);
    const want = warpAffine(img, { a: w / tw, b: 0, c: 0, d: h / th, tx: 0, ty: 0 }, tw, th, 3);
    const got = resizeRgb(img, tw, th);
    assert.equal(got.width, tw);
    assert.equal(got.height, th);
    assert.deepEqual(got.data, want.data, `${w}×${h} → ${tw}×${th}`);
  }
  const same = noise(8, 8, 1);
  assert.equal(resizeRgb(same, 8, 8), same);
});
