/** Golden tests: hand-computed outputs of the pure numeric stages, in every kind and layout. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { iou, nms } from '../src/core/detect/nms.js';
import { decodeYunet } from '../src/core/detect/yunet-decode.js';
import type { ModelInput, Normalisation } from '../src/core/models/manifest.js';
import { normaliseInto } from '../src/core/normalise.js';
import type { Image8 } from '../src/core/types.js';

function close(actual: ArrayLike<number>, expected: readonly number[], eps = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i]! - expected[i]!) <= eps, `[${i}] ${actual[i]} vs ${expected[i]}\n${Array.from(actual).join(', ')}`);
}

describe('normaliseInto', () => {
  // 2×1 RGB: pixel 0 = (10, 20, 30), pixel 1 = (40, 50, 60).
  const rgb: Image8 = { data: new Uint8Array([10, 20, 30, 40, 50, 60]), width: 2, height: 1, channels: 3 };
  const input = (normalisation: Normalisation, layout: 'NCHW' | 'NHWC', channels: 1 | 3 = 3): ModelInput => ({ name: 'x', width: 2, height: 1, channels, layout, crop: { mode: 'none' }, normalisation });
  /** Writes at offset 2 of a NaN-filled buffer and checks the two slots before stay untouched. */
  const run = (img: Image8, inp: ModelInput): Float32Array => {
    const out = new Float32Array(2 + img.data.length).fill(Number.NaN);
    normaliseInto(img, inp, out, 2);
    assert.ok(Number.isNaN(out[0]!) && Number.isNaN(out[1]!), 'nothing written before the offset');
    return out.subarray(2);
  };

  const cases: { name: string; norm: Normalisation; nhwc: number[]; nchw: number[] }[] = [
    { name: 'scale', norm: { kind: 'scale', scale: 0.5 }, nhwc: [5, 10, 15, 20, 25, 30], nchw: [5, 20, 10, 25, 15, 30] },
    {
      name: 'meanstd',
      norm: { kind: 'meanstd', scale: 1, mean: [10, 20, 30], std: [2, 4, 5] },
      nhwc: [0, 0, 0, 15, 7.5, 6],
      nchw: [0, 15, 0, 7.5, 0, 6],
    },
    {
      // Global contrast: the mean of all six values is 35, so the centred values are
      // (-25, -15, -5, 5, 15, 25), L2 norm sqrt(1750); norm = sqrt(1750) makes the scale 1; then per
      // HWC element minus pixelMean (0..5), over pixelStd (1, 1, 1, 1, 1, 2).
      name: 'gcn',
      norm: { kind: 'gcn', norm: Math.sqrt(1750), pixelMean: [0, 1, 2, 3, 4, 5], pixelStd: [1, 1, 1, 1, 1, 2] },
      nhwc: [-25, -16, -7, 2, 11, 10],
      nchw: [-25, 2, -16, 11, -7, 10],
    },
  ];
  for (const c of cases) {
    it(`${c.name}, NHWC and NCHW`, () => {
      close(run(rgb, input(c.norm, 'NHWC')), c.nhwc);
      close(run(rgb, input(c.norm, 'NCHW')), c.nchw);
    });
  }

  it('gray (1 channel): both layouts are the same', () => {
    const gray: Image8 = { data: new Uint8Array([0, 4]), width: 2, height: 1, channels: 1 };
    // mean 2, centred (-2, 2), L2 norm sqrt(8) → with norm 1: ∓0.70711; then (v - m) / s.
    const norm: Normalisation = { kind: 'gcn', norm: 1, pixelMean: [0.5, -0.5], pixelStd: [0.5, 2] };
    const expected = [(-Math.SQRT1_2 - 0.5) / 0.5, (Math.SQRT1_2 + 0.5) / 2];
    close(run(gray, input(norm, 'NHWC', 1)), expected);
    close(run(gray, input(norm, 'NCHW', 1)), expected);
    close(run(gray, input({ kind: 'scale', scale: 1 / 255 }, 'NCHW', 1)), [0, 4 / 255]);
  });

  it('a flat image under gcn gives (0 - mean) / std, not NaN', () => {
    const flat: Image8 = { data: new Uint8Array([7, 7]), width: 2, height: 1, channels: 1 };
    close(run(flat, input({ kind: 'gcn', norm: 100, pixelMean: [1, 2], pixelStd: [2, 4] }, 'NCHW', 1)), [-0.5, -0.5]);
  });

  it('a crop of the wrong size is refused', () => {
    assert.throws(() => normaliseInto(rgb, { ...input({ kind: 'scale', scale: 1 }, 'NCHW'), width: 3 }, new Float32Array(9), 0), /model wants 3×1×3/);
  });
});

describe('decodeYunet', () => {
  const zeros = (n: number) => new Float32Array(n);
  it('decodes score, box and landmarks of the right grid cell (row-major, cols = inputWidth / stride) at each stride', () => {
    // Stride 8 on a 16-wide input: a 2×2 grid. The face is in cell 2 = row 1, column 0.
    const cls = new Float32Array([0.01, 1.2, 0.64, 0.2]);
    const obj = new Float32Array([1, -0.5, 1, 0.2]);
    const bbox = zeros(16);
    bbox.set([0.5, 0.25, Math.log(2), 0], 8);
    const kps = zeros(40);
    kps.set([0, 0, 1, 0, 0.5, 0.5, 0, 1, 1, 1], 20);
    // Stride 16: one cell, score sqrt(0.25 · 1) = 0.5, exactly the threshold (kept).
    const level16 = { stride: 16, cls: new Float32Array([0.25]), obj: new Float32Array([1]), bbox: zeros(4), kps: zeros(10) };
    const out = decodeYunet([{ stride: 8, cls, obj, bbox, kps }, level16], 16, 0.5);
    assert.equal(out.length, 2, 'cell 0 (score 0.1), cell 1 (obj clamped to 0) and cell 3 (0.2) are below 0.5');
    const [a, b] = out;
    assert.ok(a !== undefined && b !== undefined);
    assert.ok(Math.abs(a.score - 0.8) < 1e-6);
    // centre ((0 + 0.5)·8, (1 + 0.25)·8) = (4, 10), size (2·8, 1·8)
    close([a.boxPx.x, a.boxPx.y, a.boxPx.width, a.boxPx.height], [-4, 6, 16, 8]);
    const lm = a.landmarksPx!;
    close([lm.rightEye.x, lm.rightEye.y, lm.leftEye.x, lm.leftEye.y, lm.nose.x, lm.nose.y, lm.rightMouth.x, lm.rightMouth.y, lm.leftMouth.x, lm.leftMouth.y], [0, 8, 8, 8, 4, 12, 0, 16, 8, 16]);
    assert.equal(b.score, 0.5);
    close([b.boxPx.x, b.boxPx.y, b.boxPx.width, b.boxPx.height], [-8, -8, 16, 16]);
  });

  it('nothing above the threshold gives an empty list', () => {
    assert.deepEqual(decodeYunet([{ stride: 32, cls: new Float32Array([0.1]), obj: new Float32Array([0.1]), bbox: zeros(4), kps: zeros(10) }], 32, 0.5), []);
  });
});

describe('nms', () => {
  const box = (x: number, y: number, width: number, height: number, score: number, id: string) => ({ boxPx: { x, y, width, height }, score, id });
  const A = box(0, 0, 10, 10, 0.9, 'A');
  const B = box(1, 0, 10, 10, 0.8, 'B'); // IoU(A, B) = 90/110 = 0.818
  const C = box(20, 20, 10, 10, 0.7, 'C'); // overlaps nothing
  const D = box(5, 0, 10, 10, 0.95, 'D'); // IoU(D, A) = 50/150 = 0.333, IoU(D, B) = 60/140 = 0.429
  const ids = (xs: readonly { id: string }[]) => xs.map((x) => x.id).join('');

  it('iou of the golden boxes', () => {
    close([iou(A.boxPx, B.boxPx), iou(D.boxPx, A.boxPx), iou(D.boxPx, B.boxPx), iou(A.boxPx, C.boxPx)], [90 / 110, 50 / 150, 60 / 140, 0]);
    assert.equal(iou({ x: 0, y: 0, width: 0, height: 0 }, { x: 0, y: 0, width: 0, height: 0 }), 0);
  });

  it('keeps highest score first and drops boxes above the IoU threshold of any kept box', () => {
    assert.equal(ids(nms([A, B, C, D], 0.4)), 'DAC'); // B goes: 0.429 with D
    assert.equal(ids(nms([A, B, C, D], 0.5)), 'DAC'); // B goes: 0.818 with A
    assert.equal(ids(nms([A, B, C, D], 0.9)), 'DABC');
    assert.equal(ids(nms([A, B, C, D], 0.3)), 'DC'); // A goes too: 0.333 with D
    assert.equal(ids(nms([C, B, A, D], 0.5)), 'DAC', 'input order does not matter');
  });

  it('an IoU equal to the threshold is kept; maxKeep stops early; empty in, empty out', () => {
    const half = box(0, 0, 10, 5, 0.5, 'H'); // IoU(A, H) = 50/100 = 0.5
    assert.equal(ids(nms([A, half], 0.5)), 'AH');
    assert.equal(ids(nms([A, half], 0.49)), 'A');
    assert.equal(ids(nms([A, B, C, D], 0.9, 2)), 'DA');
    assert.deepEqual(nms([], 0.5), []);
  });
});

describe('quality flags', () => {
  it('assessQuality flags each measurement past its threshold, and only those', async () => {
    const { assessQuality, DEFAULT_QUALITY_THRESHOLDS: t, sharpness } = await import('../src/core/quality.js');
    const good = { score: 0.95, eyeDistancePx: 40, yawDeg: 10, sharpness: 1000 };
    assert.deepEqual(assessQuality(good), { reliable: true, reasons: [], sharpness: 1000 });
    assert.deepEqual(assessQuality({ ...good, yawDeg: -(t.maxAbsYawDeg + 1) }).reasons, ['yaw']);
    assert.deepEqual(assessQuality({ ...good, yawDeg: t.maxAbsYawDeg }).reasons, [], 'at the threshold is still reliable');
    assert.deepEqual(assessQuality({ ...good, eyeDistancePx: t.minEyeDistancePx - 1 }).reasons, ['tiny']);
    assert.deepEqual(assessQuality({ ...good, sharpness: t.minSharpness - 1 }).reasons, ['blur']);
    assert.deepEqual(assessQuality({ ...good, score: t.minDetectorScore - 0.01 }).reasons, ['low-score']);
    assert.deepEqual(assessQuality({ score: 0.5, eyeDistancePx: 5, yawDeg: 80, sharpness: 3 }).reasons, ['yaw', 'tiny', 'blur', 'low-score']);
    // Occlusion: any one region hidden above the threshold; the measure is reported with the flags.
    const hidden = { eyes: t.maxOcclusion + 0.01, nose: 0, mouth: 0 };
    assert.deepEqual(assessQuality({ ...good, occlusion: hidden }), { reliable: false, reasons: ['occlusion'], sharpness: 1000, occlusion: hidden });
    assert.deepEqual(assessQuality({ ...good, occlusion: { eyes: 0, nose: 0, mouth: t.maxOcclusion } }).reasons, [], 'at the threshold is still reliable');
    assert.deepEqual(assessQuality({ ...good, occlusion: { eyes: 0, nose: 0.9, mouth: 0 } }, { ...t, maxOcclusion: 0.95 }).reasons, []);
    // Laplacian variance: a flat image has none; a 0/255 checkerboard's interior Laplacian is ±1020.
    const flat = { data: new Uint8Array(16).fill(9), width: 4, height: 4, channels: 1 as const };
    assert.equal(sharpness(flat), 0);
    const board = { data: new Uint8Array(16).map((_, i) => ((i % 4) + Math.floor(i / 4)) % 2 === 0 ? 0 : 255), width: 4, height: 4, channels: 1 as const };
    assert.equal(sharpness(board), 1020 ** 2);
  });
});

describe('annotation label layout', () => {
  const overlapArea = (a: { x: number; y: number; width: number; height: number }, b: typeof a) =>
    Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x)) * Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));

  it('label blocks stay inside the frame and cover no face box and no other block (the five faces of multi_face.jpg)', async () => {
    const { layoutLabels } = await import('../src/core/label-layout.js');
    // Boxes as YuNet finds them on multi_face.jpg (1000×667), label blocks of 8 lines at font 14.
    const boxes = [
      { x: 531, y: 305, width: 100, height: 132 },
      { x: 686, y: 289, width: 103, height: 135 },
      { x: 434, y: 218, width: 80, height: 96 },
      { x: 314, y: 235, width: 95, height: 124 },
      { x: 216, y: 62, width: 90, height: 114 },
    ];
    const sizes = boxes.map(() => ({ width: 190, height: 142 }));
    const rects = layoutLabels(boxes, sizes, { width: 1000, height: 667 });
    assert.equal(rects.length, 5);
    rects.forEach((r, i) => {
      assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.width <= 1000 && r.y + r.height <= 667, `block ${i} inside the frame`);
      assert.deepEqual([r.width, r.height], [190, 142]);
      boxes.forEach((b, j) => assert.equal(overlapArea(r, b), 0, `block ${i} over face ${j}`));
      rects.forEach((o, j) => assert.ok(i === j || overlapArea(r, o) === 0, `block ${i} over block ${j}`));
    });
    // A face in the bottom-right corner gets its block beside or above it, inside the frame.
    const cornerBox = { x: 900, y: 600, width: 100, height: 67 };
    const [corner] = layoutLabels([cornerBox], [{ width: 150, height: 60 }], { width: 1000, height: 667 });
    assert.ok(corner !== undefined && corner.x >= 0 && corner.y >= 0 && corner.x + corner.width <= 1000 && corner.y + corner.height <= 667);
    assert.equal(overlapArea(corner, cornerBox), 0);
  });

  it('overlaySvg draws a background per block and only the lines --labels asks for', async () => {
    const { overlaySvg } = await import('../src/node/annotate.js');
    const face = {
      boxPx: { x: 10, y: 10, width: 50, height: 60 },
      score: 0.9,
      alignment: { rollDeg: 0, eyeDistancePx: 20 },
      attributes: { emotion: { kind: 'class' as const, label: 'happiness' as const, score: 0.9, scores: { happiness: 0.9 } }, age: { kind: 'value' as const, value: 30 } },
      quality: { reliable: false, reasons: ['yaw' as const], sharpness: 500 },
    };
    const all = overlaySvg(200, 200, [face]);
    assert.match(all, /fill-opacity="0.6"/);
    assert.match(all, />unreliable: yaw</);
    assert.match(all, />age: 30.0</);
    const some = overlaySvg(200, 200, [face], undefined, { labels: ['emotion'] });
    assert.match(some, />emotion: happiness 90%</);
    assert.doesNotMatch(some, /age:|unreliable|>#0 /);
    assert.doesNotMatch(overlaySvg(200, 200, [face], undefined, { labels: [] }), /<text/);
  });
});
