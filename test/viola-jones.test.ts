import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import type { DetectOptions, FaceDetector } from '../src/core/detect/types.js';
import {
  allocateIntegral,
  compileCascade,
  createViolaJonesDetector,
  defaultCascadePath,
  detectCandidates,
  detectMultiScale,
  dropEnclosingRects,
  evaluateWindow,
  fillIntegral,
  grayFromRgb,
  groupRectangles,
  integralImage,
  loadHaarCascade,
  neighborsToScore,
  parseHaarCascade,
  pyramidScales,
  resizeGrayBilinear,
  scanImage,
  synthesiseLandmarks,
  WINDOW_REJECTED,
} from '../src/node/detect/viola-jones/index.js';
import type { HaarCascade, IntegralImage } from '../src/node/detect/viola-jones/index.js';
import { ModelError, OptionError } from '../src/core/errors.js';
import type { Box, Detection, RgbImage } from '../src/core/types.js';

const MEDIA = resolve(process.cwd(), '..', 'shared', 'media');
const HAAR_DIR = '/usr/share/opencv4/haarcascades';
const FACE_XML = join(HAAR_DIR, 'haarcascade_frontalface_default.xml');
const noCascades = existsSync(FACE_XML) ? false : `OpenCV cascades not installed (apt-get install opencv-data)`;

async function loadRgb(name: string): Promise<RgbImage> {
  const { data, info } = await sharp(join(MEDIA, name)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

function at(ii: IntegralImage, plane: 'sum' | 'sqsum' | 'tilted', x: number, y: number): number {
  const base = plane === 'sum' ? 0 : plane === 'sqsum' ? ii.sqsumOffset : ii.tiltedOffset;
  return ii.data[base + y * ii.stride + x] ?? NaN;
}

/** OpenCV's documented definition: T(X, Y) = Σ I(x, y) over y < Y, |x − X + 1| ≤ Y − y − 1. */
function bruteTilted(gray: Uint8Array, w: number, h: number, X: number, Y: number): number {
  let s = 0;
  for (let y = 0; y < Math.min(Y, h); y++) for (let x = 0; x < w; x++) if (Math.abs(x - X + 1) <= Y - y - 1) s += gray[y * w + x] ?? 0;
  return s;
}

/** A one-stage cascade in the opencv_traincascade XML format. */
function cascadeXml(opts: { width: number; height: number; rects: string[]; tilted?: boolean; threshold?: number; featureType?: string; leaves?: string }): string {
  return `<?xml version="1.0"?>
<!-- hand-written test cascade -->
<opencv_storage>
<cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
  <featureType>${opts.featureType ?? 'HAAR'}</featureType>
  <height>${opts.height}</height>
  <width>${opts.width}</width>
  <stageParams><maxWeakCount>1</maxWeakCount></stageParams>
  <featureParams><maxCatCount>0</maxCatCount></featureParams>
  <stageNum>1</stageNum>
  <stages>
    <_>
      <maxWeakCount>1</maxWeakCount>
      <stageThreshold>0.</stageThreshold>
      <weakClassifiers>
        <_>
          <internalNodes>0 -1 0 ${opts.threshold ?? 0}</internalNodes>
          <leafValues>${opts.leaves ?? '-1. 1.'}</leafValues></_></weakClassifiers></_></stages>
  <features>
    <_>
      <rects>${opts.rects.map((r) => `<_>${r}</_>`).join('')}</rects>${opts.tilted === true ? '<tilted>1</tilted>' : ''}</_></features></cascade>
</opencv_storage>
`;
}

function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  return (ix * iy) / (a.width * a.height + b.width * b.height - ix * iy);
}

function assertLandmarksInBoxes(dets: readonly Detection[]): void {
  for (const d of dets) {
    const b = d.boxPx;
    assert.ok(d.landmarksPx !== undefined, 'landmarks present');
    for (const [name, p] of Object.entries(d.landmarksPx)) {
      assert.ok(p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height, `${name} (${p.x}, ${p.y}) outside box ${JSON.stringify(b)}`);
    }
    const l = d.landmarksPx;
    assert.ok(l.rightEye.x < l.leftEye.x, 'rightEye is the eye on the image left');
    assert.ok(l.nose.y > Math.max(l.rightEye.y, l.leftEye.y) && l.rightMouth.y > l.nose.y, 'eyes above nose above mouth');
  }
}

async function detect(detector: FaceDetector, name: string, opts: Partial<DetectOptions> = {}): Promise<Detection[]> {
  return detector.detect(await loadRgb(name), { ...DEFAULT_DETECT_OPTIONS, ...opts });
}

// ---------------------------------------------------------------- integral images

test('gray conversion matches OpenCV’s fixed-point RGB2GRAY', () => {
  const img: RgbImage = { data: Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30, 103, 105, 62), width: 6, height: 1, channels: 3 };
  // cvtColor(RGB2GRAY) in OpenCV 4.6 gives 76, 150, 29 for pure R, G, B; (103, 105, 62) is exactly
  // 99.5 in BT.601 and OpenCV's 15-bit weights give 100 (a 14-bit table would give 99).
  assert.deepEqual([...grayFromRgb(img)], [76, 150, 29, 255, 18, 100]);
});

test('integral and squared integral of a hand-computed 3×2 image', () => {
  const ii = integralImage(Uint8Array.of(1, 2, 3, 4, 5, 6), 3, 2);
  const plane = (p: 'sum' | 'sqsum') => [0, 1, 2].map((y) => [0, 1, 2, 3].map((x) => at(ii, p, x, y)));
  assert.deepEqual(plane('sum'), [
    [0, 0, 0, 0],
    [0, 1, 3, 6],
    [0, 5, 12, 21],
  ]);
  assert.deepEqual(plane('sqsum'), [
    [0, 0, 0, 0],
    [0, 1, 5, 14],
    [0, 17, 46, 91],
  ]);
  assert.equal(ii.tiltedOffset, -1);
});

test('tilted integral matches its definition, and a reused buffer keeps its stride', () => {
  const w = 7;
  const h = 5;
  const gray = Uint8Array.from({ length: w * h }, (_, i) => (i * 37 + 11) % 251);
  const ii = integralImage(gray, w, h, true);
  for (let Y = 0; Y <= h; Y++) for (let X = 0; X <= w; X++) assert.equal(at(ii, 'tilted', X, Y), bruteTilted(gray, w, h, X, Y), `T(${X}, ${Y})`);
  // A 1×1 tilted rectangle at (x, y) covers pixels (x−1, y) and (x−1, y+1) (CV_TILTED_OFS corners).
  const t = (x: number, y: number) => at(ii, 'tilted', x, y);
  assert.equal(t(3, 1) - t(2, 2) - t(4, 2) + t(3, 3), (gray[1 * w + 2] ?? 0) + (gray[2 * w + 2] ?? 0));
  // Width 1 and height 1 edge cases.
  for (const [ww, hh] of [[1, 4], [4, 1]] as const) {
    const g = Uint8Array.from({ length: ww * hh }, (_, i) => i + 1);
    const small = integralImage(g, ww, hh, true);
    for (let Y = 0; Y <= hh; Y++) for (let X = 0; X <= ww; X++) assert.equal(at(small, 'tilted', X, Y), bruteTilted(g, ww, hh, X, Y));
  }
  const big = allocateIntegral(10, 10, false);
  const view = fillIntegral(Uint8Array.of(1, 2, 3, 4), 2, 2, big);
  assert.equal(view.stride, 11);
  assert.equal(at(view, 'sum', 2, 2), 10);
});

test('bilinear resize is bit-exact with OpenCV’s INTER_LINEAR_EXACT', () => {
  // Reference output of cv::resize(src, dst, size, 0, 0, INTER_LINEAR_EXACT), OpenCV 4.6.
  const src = Uint8Array.from({ length: 20 }, (_, i) => (i * 47 + 13) % 256);
  const five = { data: src, stride: 5, x: 0, y: 0, width: 5, height: 4 };
  assert.deepEqual([...resizeGrayBilinear(five, 3, 3)], [54, 103, 182, 168, 76, 154, 211, 48, 126]);
  assert.deepEqual(
    [...resizeGrayBilinear(five, 7, 6)],
    [
      13, 40, 73, 107, 141, 174, 201, 131, 84, 63, 97, 130, 164, 191, 244, 125, 49, 82, 116, 150, 176, 231, 111, 35, 69, 102, 136, 163, 217, 170, 112,
      55, 88, 122, 149, 206, 233, 193, 44, 78, 111, 138,
    ],
  );
});

test('bilinear resize: identity, exact 2× average, crops, edge replication', () => {
  const src = Uint8Array.of(0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150);
  const view = { data: src, stride: 4, x: 0, y: 0, width: 4, height: 4 };
  assert.deepEqual([...resizeGrayBilinear(view, 4, 4)], [...src]);
  // Halving samples between pixel pairs: the mean of each 2×2 block.
  assert.deepEqual([...resizeGrayBilinear(view, 2, 2)], [25, 45, 105, 125]);
  // A crop of the view.
  assert.deepEqual([...resizeGrayBilinear({ ...view, x: 1, y: 1, width: 2, height: 2 }, 1, 1)], [75]);
  // Upscaling 1 pixel replicates it.
  assert.deepEqual([...resizeGrayBilinear({ ...view, x: 1, width: 1, height: 1 }, 3, 2)], [10, 10, 10, 10, 10, 10]);
});

// ---------------------------------------------------------------- cascade parsing and evaluation

test('parses a hand-written cascade into typed arrays', () => {
  const c = parseHaarCascade(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.', '0 0 3 6 2.'], threshold: 0.25 }));
  assert.equal(c.windowWidth, 6);
  assert.equal(c.windowHeight, 6);
  assert.equal(c.stageCount, 1);
  assert.equal(c.featureCount, 1);
  assert.equal(c.stumpsOnly, true);
  assert.equal(c.hasTiltedFeatures, false);
  assert.deepEqual([...c.featureRects], [0, 0, 6, 6, 0, 0, 3, 6, 0, 0, 0, 0]);
  assert.deepEqual([...c.featureWeights], [-1, 2, 0]);
  assert.deepEqual([...c.nodeLeft, ...c.nodeRight, ...c.nodeFeature], [0, -1, 0]);
  assert.deepEqual([...c.nodeThreshold], [0.25]);
  assert.deepEqual([...c.leafValues], [-1, 1]);
  assert.deepEqual([...c.stageTreeStart], [0, 1]);
});

test('evaluates a one-stump cascade where the answer is known, and scans with OpenCV’s skip pattern', () => {
  // Feature: 2·(left half) − (whole) = left − right; accept when left ≥ right.
  const c = parseHaarCascade(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.', '0 0 3 6 2.'] }));
  // Columns: bright, bright, bright, dark, dark, dark, bright ×3, dark ×3; 6 rows.
  const cols = [200, 200, 200, 50, 50, 50, 200, 200, 200, 50, 50, 50];
  const gray = Uint8Array.from({ length: 12 * 6 }, (_, i) => cols[i % 12] ?? 0);
  const ii = integralImage(gray, 12, 6);
  const compiled = compileCascade(c, ii);
  const results = [0, 1, 2, 3, 4, 5, 6].map((x) => evaluateWindow(compiled, ii, x, 0));
  // 1 = passed the only stage; 0 = rejected by stage 0.
  assert.deepEqual(results, [1, 1, 0, 0, 0, 1, 1]);
  assert.equal(evaluateWindow(compiled, ii, 7, 0), WINDOW_REJECTED, 'window past the right edge');
  // A flat window (std ≤ 10 in the inner window) is rejected before any stage.
  const flat = integralImage(new Uint8Array(36).fill(90), 6, 6);
  assert.equal(evaluateWindow(compileCascade(c, flat), flat, 0, 0), WINDOW_REJECTED);
  // Scan with step 1: x = 2 is rejected by stage 0, so x = 3 is skipped; x = 4 likewise skips
  // x = 5 — which would have been accepted — exactly as CascadeClassifierInvoker does.
  assert.deepEqual(scanImage(compiled, ii, 1), [0, 0, 1, 0, 6, 0]);
  assert.deepEqual(scanImage(compiled, ii, 1, { perWindow: true }), [0, 0, 1, 0, 6, 0]);
});

test('variance normalisation: value = feature / sqrt(area·Σx² − (Σx)²) over the inner window', () => {
  // The feature spans the whole 6×6 window, the normaliser only the inner 4×4 one (OpenCV's
  // normrect): the bright first column raises the feature but does not enter nf.
  const w = 6;
  const gray = Uint8Array.from({ length: w * 6 }, (_, i) => (i % w < 3 ? 120 : 80) + (i % w === 0 ? 60 : 0));
  const ii = integralImage(gray, w, 6);
  // Inner window columns 1..4 = 120, 120, 80, 80 on 4 rows: Σ = 1600, Σx² = 166400, area 16.
  const nf = Math.sqrt(16 * 166400 - 1600 * 1600);
  assert.equal(nf, 320);
  // left − right = 6 rows × ((180 + 120 + 120) − (80 + 80 + 80)).
  const value = Math.fround(1080 * Math.fround(1 / nf));
  assert.equal(value, 3.375);
  for (const [thr, expected] of [
    [value - 1e-3, 1],
    [value + 1e-3, 0],
  ] as const) {
    const c = parseHaarCascade(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.', '0 0 3 6 2.'], threshold: thr }));
    assert.equal(evaluateWindow(compileCascade(c, ii), ii, 0, 0), expected, `threshold ${thr}`);
  }
});

test('tilted features are evaluated on the rotated integral image', () => {
  // One tilted 2×2 rectangle at (2, 0) with weight 1: positive when its pixel sum ≥ threshold.
  const w = 6;
  const gray = Uint8Array.from({ length: w * 6 }, (_, i) => (i * 53) % 256);
  const ii = integralImage(gray, w, 6, true);
  const t = (x: number, y: number) => at(ii, 'tilted', x, y);
  const sum = t(2, 0) - t(0, 2) - t(4, 2) + t(2, 4);
  assert.ok(sum > 0);
  const inner = { s: 0, s2: 0 };
  for (let y = 1; y < 5; y++) for (let x = 1; x < 5; x++) {
    const v = gray[y * w + x] ?? 0;
    inner.s += v;
    inner.s2 += v * v;
  }
  const value = Math.fround(sum * Math.fround(1 / Math.sqrt(16 * inner.s2 - inner.s * inner.s)));
  for (const [thr, expected] of [
    [value - 1e-4, 1],
    [value + 1e-4, 0],
  ] as const) {
    const c = parseHaarCascade(cascadeXml({ width: 6, height: 6, rects: ['2 0 2 2 1.'], tilted: true, threshold: thr }));
    assert.equal(c.hasTiltedFeatures, true);
    assert.equal(evaluateWindow(compileCascade(c, ii), ii, 0, 0), expected);
  }
  const c = parseHaarCascade(cascadeXml({ width: 6, height: 6, rects: ['2 0 2 2 1.'], tilted: true }));
  assert.throws(() => compileCascade(c, integralImage(gray, w, 6, false)), /tilted/);
});

test('bad cascade files give typed ModelErrors', async () => {
  const invalid = (xml: string, pattern: RegExp) =>
    assert.throws(
      () => parseHaarCascade(xml, 'test.xml'),
      (e: unknown) => e instanceof ModelError && e.code === 'MODEL_INVALID' && pattern.test(e.message) && e.message.includes('test.xml'),
    );
  invalid('<opencv_storage><cascade>', /XML|HAAR|stageType/);
  invalid('<nothing/>', /opencv_storage/);
  invalid(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.'], featureType: 'LBP' }), /LBP/);
  invalid(cascadeXml({ width: 6, height: 6, rects: ['0 0 7 6 -1.'] }), /outside/);
  invalid(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6'] }), /x y w h weight/);
  invalid(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.'], leaves: '1.' }), /leaf values/);
  invalid(cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.'] }).replace('0 -1 0 0', '0 -1 3 0'), /feature index/);
  invalid(
    '<opencv_storage><haarcascade type_id="opencv-haar-classifier"><size>24 24</size><stages/></haarcascade></opencv_storage>',
    /old-format/,
  );

  const dir = await mkdtemp(join(tmpdir(), 'facesense-vj-'));
  try {
    const path = join(dir, 'tiny.xml');
    await writeFile(path, cascadeXml({ width: 6, height: 6, rects: ['0 0 6 6 -1.', '0 0 3 6 2.'] }));
    assert.equal((await loadHaarCascade(path)).windowWidth, 6);
    await assert.rejects(loadHaarCascade(join(dir, 'missing.xml')), (e: unknown) => e instanceof ModelError && e.code === 'MODEL_NOT_FOUND' && /apt-get install opencv-data/.test(e.message));
    await assert.rejects(
      createViolaJonesDetector({ faceCascadePath: join(dir, 'missing.xml'), eyeCascadePath: null }),
      (e: unknown) => e instanceof ModelError && e.code === 'MODEL_NOT_FOUND' && /faceCascadePath/.test(e.message),
    );
    // A tiny custom cascade drives the whole detector (no eye cascade, mean-face landmarks).
    const tiny = await createViolaJonesDetector({ faceCascadePath: path, eyeCascadePath: null, minNeighbors: 0 });
    const img: RgbImage = { data: new Uint8Array(12 * 6 * 3), width: 12, height: 6, channels: 3 };
    const cols = [200, 200, 200, 50, 50, 50, 200, 200, 200, 50, 50, 50];
    img.data.forEach((_, i) => (img.data[i] = cols[Math.floor(i / 3) % 12] ?? 0));
    const dets = await tiny.detect(img, { ...DEFAULT_DETECT_OPTIONS, scoreThreshold: 0, minFacePx: 0 });
    // One pyramid level (scale 1, step 2): x = 0 accepted, x = 2 rejected so x = 4 skipped, x = 6 accepted.
    assert.deepEqual(dets.map((d) => [d.boxPx.x, d.boxPx.width, d.score]), [
      [0, 6, 1 / 3],
      [6, 6, 1 / 3],
    ]);
    assertLandmarksInBoxes(dets);
    await tiny.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- grouping, scores, landmarks

test('groupRectangles merges similar hits and needs more than minNeighbors of them', () => {
  const hits = [
    { x: 100, y: 100, width: 50, height: 50 },
    { x: 102, y: 98, width: 50, height: 50 },
    { x: 98, y: 101, width: 52, height: 52 },
    { x: 101, y: 103, width: 48, height: 48 },
    { x: 300, y: 300, width: 40, height: 40 },
    { x: 302, y: 301, width: 40, height: 40 },
  ];
  // Means (100.25, 100.5, 50, 50) rounded half to even, as cvRound does.
  assert.deepEqual(groupRectangles(hits, 3), [{ x: 100, y: 100, width: 50, height: 50, neighbors: 4 }]);
  assert.equal(groupRectangles(hits, 1).length, 2);
  assert.equal(groupRectangles(hits, 0).length, 6, 'minNeighbors 0 returns raw hits');
  // A weak large box around a strong face is dropped (not an OpenCV step; see dropEnclosingRects).
  const kept = dropEnclosingRects([
    { x: 194, y: 156, width: 260, height: 260, neighbors: 4 },
    { x: 303, y: 232, width: 124, height: 124, neighbors: 66 },
    { x: 600, y: 100, width: 50, height: 50, neighbors: 5 },
  ]);
  assert.deepEqual(kept.map((r) => r.neighbors), [66, 5]);
});

test('neighbour count maps to a score in [0, 1] that the default threshold reads sensibly', () => {
  assert.equal(neighborsToScore(0), 0);
  assert.equal(neighborsToScore(3), 0.6);
  assert.ok(neighborsToScore(4) > DEFAULT_DETECT_OPTIONS.scoreThreshold, 'default minNeighbors survivors pass the default threshold');
  assert.ok(neighborsToScore(1000) < 1 && neighborsToScore(1000) > 0.99);
});

test('mean-face landmarks lie inside the box; one found eye is mirrored', () => {
  const box = { x: 10, y: 20, width: 100, height: 100 };
  const mean = synthesiseLandmarks(box);
  assertLandmarksInBoxes([{ boxPx: box, score: 1, landmarksPx: mean }]);
  assert.ok(Math.abs(mean.rightEye.x - 43) < 1e-9 && Math.abs(mean.rightEye.y - 61) < 1e-9);
  assert.ok(Math.abs(mean.leftEye.x - 77) < 1e-9 && Math.abs(mean.nose.y - 80) < 1e-9);
  const one = synthesiseLandmarks(box, { right: { x: 40, y: 58 } });
  assert.deepEqual(one.rightEye, { x: 40, y: 58 });
  assert.deepEqual(one.leftEye, { x: 80, y: 58 });
});

test('default cascade paths honour FACESENSE_HAAR_DIR', () => {
  assert.equal(defaultCascadePath('a.xml', {}), join(HAAR_DIR, 'a.xml'));
  assert.equal(defaultCascadePath('a.xml', { FACESENSE_HAAR_DIR: '/opt/haar' }), '/opt/haar/a.xml');
});

// ---------------------------------------------------------------- the real cascades

test('pyramid scales and batched scanning match OpenCV’s per-window pattern on a photo', { skip: noCascades }, async () => {
  const cascade: HaarCascade = await loadHaarCascade(FACE_XML);
  assert.equal(cascade.stageCount, 25);
  assert.equal(cascade.featureCount, 2913);
  const scales = pyramidScales(cascade, 1000, 667, { scaleFactor: 1.1, minNeighbors: 3 });
  assert.equal(scales[0], 1);
  assert.equal(scales.length, 35); // 24·1.1^34 ≈ 618 ≤ 667 < 24·1.1^35
  // Every pyramid level of single_face.jpg: the row-batched scan must accept exactly the windows
  // the window-by-window scan (OpenCV's loop) accepts.
  const img = await loadRgb('single_face.jpg');
  const gray = grayFromRgb(img);
  const source = { data: gray, stride: img.width, x: 0, y: 0, width: img.width, height: img.height };
  let total = 0;
  for (const scale of pyramidScales(cascade, img.width, img.height, { scaleFactor: 1.1, minNeighbors: 3 })) {
    const lw = Math.round(img.width / scale);
    const lh = Math.round(img.height / scale);
    const ii = integralImage(resizeGrayBilinear(source, lw, lh), lw, lh);
    const compiled = compileCascade(cascade, ii);
    const step = scale >= 2 ? 1 : 2;
    const batched = scanImage(compiled, ii, step);
    assert.deepEqual(batched, scanImage(compiled, ii, step, { perWindow: true }), `scale ${scale}`);
    total += batched.length / 2;
  }
  assert.ok(total >= 4, `the face gives raw hits (${total})`);
});

test('detectMultiScale reproduces OpenCV 4.6 CascadeClassifier output exactly', { skip: noCascades }, async () => {
  // Reference: cv::CascadeClassifier::detectMultiScale(gray, objects, numDetections, 1.1, minNeighbors)
  // on the same gray image (OpenCV 4.6.0, Debian bookworm), as [x, y, width, height, neighbours].
  const gray = async (name: string) => {
    const img = await loadRgb(name);
    return { data: grayFromRgb(img), width: img.width, height: img.height };
  };
  // Raw hits once per case; grouping them equals detectMultiScale here (no box needs clipping).
  const run = (c: HaarCascade, g: Awaited<ReturnType<typeof gray>>) => {
    const raw = detectCandidates(c, g, { scaleFactor: 1.1, minNeighbors: 3 });
    const grouped = groupRectangles(raw, 3)
      .map((r) => [r.x, r.y, r.width, r.height, r.neighbors])
      .sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0) || (a[1] ?? 0) - (b[1] ?? 0) || (a[2] ?? 0) - (b[2] ?? 0));
    return { raw: raw.length, grouped };
  };
  const face = await loadHaarCascade(FACE_XML);
  const multi = await gray('multi_face.jpg');
  assert.deepEqual(run(face, multi), {
    raw: 236,
    grouped: [
      [194, 156, 260, 260, 4],
      [209, 68, 110, 110, 5],
      [303, 232, 124, 124, 66],
      [427, 208, 101, 101, 38],
      [516, 306, 121, 121, 61],
      [671, 288, 130, 130, 45],
    ],
  });
  assert.deepEqual(run(face, await gray('single_face.jpg')), { raw: 92, grouped: [[156, 147, 236, 236, 74]] });
  assert.deepEqual(detectMultiScale(face, multi, { scaleFactor: 1.1, minNeighbors: 3 }).length, 6);
  // A tree-based cascade with tilted features.
  const glasses = await loadHaarCascade(join(HAAR_DIR, 'haarcascade_eye_tree_eyeglasses.xml'));
  assert.equal(glasses.stumpsOnly, false);
  assert.equal(glasses.hasTiltedFeatures, true);
  assert.deepEqual(run(glasses, multi), {
    raw: 86,
    grouped: [
      [333, 271, 26, 26, 14],
      [375, 270, 24, 24, 8],
      [448, 237, 23, 23, 7],
      [484, 238, 23, 23, 11],
      [585, 345, 25, 25, 16],
      [702, 327, 23, 23, 10],
      [744, 331, 26, 26, 7],
    ],
  });
});

test('finds the one face in single_face.jpg with eyes on the eyes', { skip: noCascades }, async () => {
  const detector = await createViolaJonesDetector();
  try {
    assert.equal(detector.name, 'viola-jones');
    const dets = await detect(detector, 'single_face.jpg');
    assert.equal(dets.length, 1);
    const d = dets[0]!;
    assert.ok(iou(d.boxPx, { x: 156, y: 147, width: 236, height: 236 }) > 0.8, JSON.stringify(d.boxPx));
    assert.ok(d.score > 0.9 && d.score <= 1);
    assertLandmarksInBoxes(dets);
    // Eyes found by the eye cascade (measured ≈ (231, 245) and (306, 248)).
    const l = d.landmarksPx!;
    assert.ok(Math.hypot(l.rightEye.x - 231, l.rightEye.y - 245) < 12, JSON.stringify(l.rightEye));
    assert.ok(Math.hypot(l.leftEye.x - 306, l.leftEye.y - 248) < 12, JSON.stringify(l.leftEye));
  } finally {
    await detector.dispose();
  }
  await assert.rejects(detector.detect(await loadRgb('single_face.jpg'), DEFAULT_DETECT_OPTIONS), /disposed/);
});

test('finds all five faces in multi_face.jpg, the sunglasses face included', { skip: noCascades }, async () => {
  const detector = await createViolaJonesDetector();
  const truth = [
    { x: 303, y: 232, width: 124, height: 124 },
    { x: 516, y: 306, width: 121, height: 121 },
    { x: 671, y: 288, width: 130, height: 130 },
    { x: 427, y: 208, width: 102, height: 102 },
    { x: 209, y: 68, width: 110, height: 110 }, // sunglasses: only 5 neighbours (score 0.71)
  ];
  const dets = await detect(detector, 'multi_face.jpg');
  const matched = truth.filter((t) => dets.some((d) => iou(d.boxPx, t) > 0.6));
  assert.equal(matched.length, 5, JSON.stringify(dets.map((d) => d.boxPx)));
  assert.equal(dets.length, 5, 'no false positives (the weak head-and-shoulders box is dropped)');
  assertLandmarksInBoxes(dets);
  for (let i = 1; i < dets.length; i++) assert.ok((dets[i - 1]?.score ?? 0) >= (dets[i]?.score ?? 0), 'highest score first');

  // DetectOptions: a stricter score drops the weakly supported sunglasses face; maxFaces caps;
  // minFacePx skips small faces.
  assert.equal((await detect(detector, 'multi_face.jpg', { scoreThreshold: 0.9 })).length, 4);
  assert.equal((await detect(detector, 'multi_face.jpg', { maxFaces: 2 })).length, 2);
  // minFacePx is also OpenCV's minSize: the 102- and 110-px faces go, and the three others are
  // found from larger windows only (boxes 140–143 px, measured).
  const large = await detect(detector, 'multi_face.jpg', { minFacePx: 125 });
  assert.equal(large.length, 3);
  assert.ok(large.every((d) => Math.min(d.boxPx.width, d.boxPx.height) >= 125));
  await detector.dispose();
});

test('finds no face in a landscape vector graphic', { skip: noCascades }, async () => {
  const detector = await createViolaJonesDetector({ eyeCascadePath: null });
  // Measured: 0 detections (1920×1080).
  assert.deepEqual(await detect(detector, 'free-mountain-vector-01.jpg'), []);
  await detector.dispose();
});

test('rejects bad options and pixel buffers', { skip: noCascades }, async () => {
  await assert.rejects(createViolaJonesDetector({ scaleFactor: 1 }), OptionError);
  await assert.rejects(createViolaJonesDetector({ minNeighbors: -1 }), OptionError);
  const detector = await createViolaJonesDetector({ eyeCascadePath: null });
  const img: RgbImage = { data: new Uint8Array(30), width: 5, height: 2, channels: 3 };
  await assert.rejects(detector.detect(img, { ...DEFAULT_DETECT_OPTIONS, scoreThreshold: 2 }), OptionError);
  await assert.rejects(detector.detect({ ...img, width: 6 }, DEFAULT_DETECT_OPTIONS), /RGB pixels/);
  assert.deepEqual(await detector.detect(img, DEFAULT_DETECT_OPTIONS), [], 'an image smaller than the window has no faces');
  // Gray images straight into the multi-scale API.
  const cascade = await loadHaarCascade(FACE_XML);
  assert.deepEqual(detectMultiScale(cascade, { data: new Uint8Array(100), width: 10, height: 10 }, { scaleFactor: 1.1, minNeighbors: 3 }), []);
  await detector.dispose();
});
