import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alignFace } from '../src/core/align.js';
import { alignFaceInto } from '../src/core/fused.js';
import type { ModelInput, Normalisation } from '../src/core/models/manifest.js';
import { flipHorizontal, normaliseInto } from '../src/core/normalise.js';
import type { Detection, Image8, RgbImage } from '../src/core/types.js';
import { hasShared, loadRgb, media } from './helpers/media.js';

/** Deterministic noise image (a linear congruential generator), so every pixel differs from its neighbours. */
function noise(width: number, height: number, channels: 1 | 3, seed: number): Image8 {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return { data, width, height, channels };
}

const det: Detection = {
  boxPx: { x: 60, y: 50, width: 90, height: 110 },
  score: 1,
  landmarksPx: { rightEye: { x: 80.3, y: 90.7 }, leftEye: { x: 121.9, y: 97.2 }, nose: { x: 100, y: 115 }, rightMouth: { x: 85, y: 135 }, leftMouth: { x: 115, y: 140 } },
};

/** The unfused path: alignFace → (flip) → normaliseInto, as Classifier.prepare does. */
function unfused(image: RgbImage | Image8, d: Detection | undefined, input: ModelInput, tta: boolean): Float32Array {
  const per = input.width * input.height * input.channels;
  const crop = alignFace(image, d, { width: input.width, height: input.height, channels: input.channels, crop: input.crop }).image;
  const out = new Float32Array((tta ? 2 : 1) * per);
  normaliseInto(crop, input, out, 0);
  if (tta) normaliseInto(flipHorizontal(crop), input, out, per);
  return out;
}

function fused(image: RgbImage | Image8, d: Detection | undefined, input: ModelInput, tta: boolean): Float32Array {
  const per = input.width * input.height * input.channels;
  const out = new Float32Array((tta ? 2 : 1) * per);
  alignFaceInto(image, d, input, out, 0, tta ? per : -1);
  return out;
}

function inputOf(width: number, height: number, channels: 1 | 3, layout: 'NCHW' | 'NHWC', normalisation: Normalisation, crop: ModelInput['crop']): ModelInput {
  return { name: 'x', width, height, channels, layout, normalisation, crop };
}

const aligned = { mode: 'aligned', eyeDistance: 0.3624, eyeY: 0.3956 } as const;
const gcn = (n: number): Normalisation => ({ kind: 'gcn', norm: 100, pixelMean: Array.from({ length: n }, (_, i) => (i % 7) - 3), pixelStd: Array.from({ length: n }, (_, i) => 1 + (i % 5) / 4) });

const cases: [string, ModelInput][] = [
  ['gray 48×48 NCHW scale (emotion models)', inputOf(48, 48, 1, 'NCHW', { kind: 'scale', scale: 1 / 255 }, aligned)],
  ['RGB 64×64 NCHW scale (attribute models)', inputOf(64, 64, 3, 'NCHW', { kind: 'scale', scale: 1 / 255 }, { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3 })],
  ['RGB 40×32 NHWC meanstd, box crop', inputOf(40, 32, 3, 'NHWC', { kind: 'meanstd', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, { mode: 'box', scale: 1.2 })],
  ['gray 24×24 NHWC gcn', inputOf(24, 24, 1, 'NHWC', gcn(24 * 24), aligned)],
];

for (const [name, input] of cases) {
  for (const tta of [false, true]) {
    test(`fused align+normalise equals the unfused path exactly: ${name}${tta ? ', with mirror' : ''}`, () => {
      for (const [src, seed] of [[noise(200, 180, 3, 1), 1], [noise(200, 180, 1, 2), 2]] as const) {
        const a = unfused(src, det, input, tta);
        const b = fused(src, det, input, tta);
        assert.equal(b.length, a.length);
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`seed ${seed}: element ${i} is ${b[i]} fused, ${a[i]} unfused`);
      }
    });
  }
}

test('fused equals unfused for a whole pre-cropped input (no detection), upscaling and downscaling', () => {
  const input = inputOf(48, 48, 1, 'NCHW', { kind: 'scale', scale: 1 / 255 }, aligned);
  for (const [w, h] of [[30, 20], [48, 48], [300, 170]] as const) {
    const src = noise(w, h, 3, w);
    assert.deepEqual(fused(src, undefined, input, true), unfused(src, undefined, input, true));
  }
});

test('fused equals unfused on a real photo, every face of multi_face.jpg', { skip: !hasShared && 'needs ../shared/media' }, async () => {
  const image = await loadRgb(media('multi_face.jpg'));
  const input = inputOf(64, 64, 3, 'NCHW', { kind: 'scale', scale: 1 / 255 }, { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3 });
  // Eyes at a few places and angles over the photo, including near its borders (replicated edges).
  for (const [x, y, dx, dy] of [[200, 150, 40, 5], [5, 5, 30, -8], [image.width - 20, image.height - 10, 25, 12], [500, 300, 60, 0]] as const) {
    const d: Detection = { ...det, landmarksPx: { ...det.landmarksPx!, rightEye: { x, y }, leftEye: { x: x + dx, y: y + dy } } };
    assert.deepEqual(fused(image, d, input, true), unfused(image, d, input, true));
  }
});
