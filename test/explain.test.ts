import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { OptionError } from '../src/core/errors.js';
import { enlarge, heatColour, overlayHeat, sideBySide } from '../src/interpret/heatmap.js';
import { fillValues, largestDrop, occlude, occlusionSensitivity, patchStarts } from '../src/interpret/occlusion.js';
import { softmax } from '../src/core/postprocess.js';
import type { Image8 } from '../src/core/types.js';
import { linearManifest, linearModel, writeModel } from './fixtures/onnx-builder.js';
import { hasShared, media, SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);
const SIZE = 48;
/** The region that drives class "yes": rows 28..35, columns 8..15 (one 8-pixel patch at stride 4). */
const REGION = { x: 8, y: 28, side: 8 };
const inRegion = (u: number, v: number) => u >= REGION.x && u < REGION.x + REGION.side && v >= REGION.y && v < REGION.y + REGION.side;

/** Gray 100 everywhere, white in the region: only the region differs from the background. */
function regionImage(): Image8 {
  const data = new Uint8Array(SIZE * SIZE).fill(100);
  for (let v = 0; v < SIZE; v++) for (let u = 0; u < SIZE; u++) if (inRegion(u, v)) data[v * SIZE + u] = 255;
  return { data, width: SIZE, height: SIZE, channels: 1 };
}

/** Logits (+s, −s) with s = mean over the region of the pixels / 255 (the model looks nowhere else). */
function regionWeights(): Float32Array {
  const w = new Float32Array(SIZE * SIZE * 2);
  const k = 1 / (REGION.side * REGION.side);
  for (let v = 0; v < SIZE; v++) {
    for (let u = 0; u < SIZE; u++) {
      if (!inRegion(u, v)) continue;
      w[(v * SIZE + u) * 2] = k;
      w[(v * SIZE + u) * 2 + 1] = -k;
    }
  }
  return w;
}

/** The same model in TypeScript: probability of "yes" for each crop. */
async function regionScore(crops: readonly Image8[]): Promise<number[]> {
  const w = regionWeights();
  return crops.map((c) => {
    let s = 0;
    for (let p = 0; p < SIZE * SIZE; p++) s += (c.data[p]! / 255) * w[p * 2]!;
    return softmax([s, -s])[0]!;
  });
}

test('patch positions cover every pixel; fills; occlusion copies', () => {
  assert.deepEqual(patchStarts(48, 8, 4), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
  assert.deepEqual(patchStarts(10, 4, 4), [0, 4, 6], 'the last patch is flush with the edge');
  assert.deepEqual(patchStarts(8, 8, 3), [0]);
  const img = regionImage();
  assert.deepEqual(fillValues(img, 'gray'), [128]);
  assert.deepEqual(fillValues(img, 'black'), [0]);
  assert.deepEqual(fillValues(img, 'mean'), [Math.round((100 * (2304 - 64) + 255 * 64) / 2304)]);
  const o = occlude(img, 8, 28, 8, [7]);
  assert.equal(o.data[28 * SIZE + 8], 7);
  assert.equal(o.data[35 * SIZE + 15], 7);
  assert.equal(o.data[36 * SIZE + 15], 100);
  assert.equal(img.data[28 * SIZE + 8], 255, 'the input is not modified');
});

test('occluding the one region that drives the prediction gives the largest drop; elsewhere nothing changes', async () => {
  const m = await occlusionSensitivity(regionImage(), regionScore, { patch: 8, stride: 4, fill: 'gray', batch: 50 });
  assert.ok(Math.abs(m.baseline - 1 / (1 + Math.exp(-2))) < 1e-9, 'baseline p(yes) = σ(2)');
  assert.equal(m.drops.length, 11 * 11);
  const peak = largestDrop(m);
  assert.deepEqual([peak.x, peak.y], [8, 28]);
  assert.ok(Math.abs(peak.drop - (m.baseline - 1 / (1 + Math.exp(-2 * (128 / 255))))) < 1e-12, 'the whole region gray: p(yes) = σ(2·128/255)');
  for (let v = 0; v < SIZE; v++) {
    for (let u = 0; u < SIZE; u++) {
      const far = u < REGION.x - 7 || u > REGION.x + REGION.side + 6 || v < REGION.y - 7 || v > REGION.y + REGION.side + 6;
      const value = m.map[v * SIZE + u]!;
      if (far) assert.equal(value, 0, `pixel (${u}, ${v}) is far from the region`);
      assert.ok(value >= 0 && value <= m.baseline, 'a drop is between 0 and the baseline here');
    }
  }
  const inside = [...m.map].filter((_, p) => inRegion(p % SIZE, Math.floor(p / SIZE)));
  const outside = [...m.map].filter((_, p) => !inRegion(p % SIZE, Math.floor(p / SIZE)));
  assert.ok(Math.min(...inside) > Math.max(...outside) * 0.5 && Math.max(...inside) >= Math.max(...outside));
  await assert.rejects(occlusionSensitivity(regionImage(), regionScore, { patch: 49 }), (e: unknown) => e instanceof OptionError && /--patch must be a whole number of pixels from 1 to 48/.test(e.message));
  await assert.rejects(occlusionSensitivity(regionImage(), regionScore, { patch: 8, stride: 0 }), OptionError);
});

test('heat pictures: colours by sign, blend keeps unimportant pixels, enlarge and side by side', () => {
  assert.deepEqual(heatColour(1), [255, 255, 0]);
  assert.deepEqual(heatColour(-1), [0, 90, 255]);
  const crop: Image8 = { data: Uint8Array.from([10, 20, 30, 40]), width: 2, height: 2, channels: 1 };
  const over = overlayHeat(crop, [0, 0, 0, 2]);
  assert.deepEqual(Array.from(over.data.subarray(0, 3)), [10, 10, 10]);
  assert.notDeepEqual(Array.from(over.data.subarray(9, 12)), [40, 40, 40]);
  const big = enlarge(crop, 3);
  assert.equal(big.width, 6);
  assert.equal(big.data[(5 * 6 + 5) * 3], 40);
  const both = sideBySide([big, big], 2);
  assert.equal(both.width, 14);
  assert.equal(both.data[6 * 3], 255, 'gap is white');
});

async function explainCli(args: string[]) {
  return run(process.execPath, [resolve('bin/facesense.js'), 'explain', ...args], { env: { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' } });
}

test('facesense explain on a linear ONNX model finds the region, through the real inference path', async () => {
  const dir = await tempDir();
  const model = await writeModel(dir, 'region', linearModel({ width: SIZE, height: SIZE, weights: regionWeights(), classes: 2 }), linearManifest('region', { width: SIZE, height: SIZE, labels: ['yes', 'no'] }));
  const img = regionImage();
  const file = join(dir, 'face.png');
  await sharp(img.data, { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(file);
  const out = join(dir, 'out');
  const { stdout } = await explainCli([file, '--model', model, '--detector', 'none', '--patch', '8', '--stride', '4', '--out', out]);
  assert.match(stdout, /face 0: yes p=0\.881; largest drop 0\.14\d with the 8px patch at \(8, 28\)/);
  const json = JSON.parse(await readFile(join(out, 'explain.json'), 'utf8')) as { faces: { class: string; baseline: number; analyzerScore: number; largestDrop: { xPx: number; yPx: number }; grid: { xsPx: number[]; drops: number[][] }; map: { widthPx: number; values: number[][] }; png: string }[] };
  assert.equal(json.faces.length, 1);
  const f = json.faces[0]!;
  assert.equal(f.class, 'yes');
  assert.equal(f.baseline, f.analyzerScore, 'the explained crop is the one the analyzer classified');
  assert.deepEqual([f.largestDrop.xPx, f.largestDrop.yPx], [8, 28]);
  assert.equal(f.grid.drops.length, 11);
  assert.equal(f.map.values.length, SIZE);
  assert.equal(f.map.values[0]!.length, SIZE);
  assert.equal(f.map.values[0]![40], 0);
  const meta = await sharp(join(out, f.png)).metadata();
  assert.deepEqual([meta.width, meta.height], [3 * SIZE * 4 + 2 * 4, SIZE * 4]);

  const other = join(dir, 'other');
  const { stdout: no } = await explainCli([file, '--model', model, '--detector', 'none', '--class', 'no', '--patch', '8', '--stride', '4', '--out', other]);
  assert.match(no, /face 0: no p=0\.119; largest drop 0\.000/, 'no patch makes "no" less likely');
  const g = (JSON.parse(await readFile(join(other, 'explain.json'), 'utf8')) as { faces: { grid: { drops: number[][] } }[] }).faces[0]!.grid.drops;
  const min = Math.min(...g.flat());
  assert.ok(min < -0.1 && g[7]![2] === min, 'hiding the region makes "no" most likely: the most negative drop is there');
});

test('facesense explain: bad input and bad options are typed errors naming the problem', async () => {
  const dir = await tempDir();
  const model = await writeModel(dir, 'region', linearModel({ width: SIZE, height: SIZE, weights: regionWeights(), classes: 2 }), linearManifest('region', { width: SIZE, height: SIZE, labels: ['yes', 'no'] }));
  const notImage = join(dir, 'notes.jpg');
  await writeFile(notImage, 'not an image');
  const out = join(dir, 'out');
  const fails = async (args: string[], code: number, pattern: RegExp) =>
    assert.rejects(explainCli(args), (e: { code?: number; stderr?: string }) => e.code === code && pattern.test(e.stderr ?? '') ? true : assert.fail(`exit ${e.code}: ${e.stderr}`));
  await fails([notImage, '--model', model, '--detector', 'none', '--out', out], 1, /notes\.jpg: .*\[(CORRUPT_IMAGE|UNSUPPORTED_FORMAT)\]/);
  await fails([join(dir, 'missing.png'), '--model', model, '--detector', 'none', '--out', out], 1, /missing\.png: .*\[INPUT_NOT_FOUND\]/);
  await fails([notImage, '--model', model, '--patch', '64', '--out', out], 2, /--patch must be at most 48/);
  await fails([notImage, '--model', model, '--class', 'maybe', '--out', out], 2, /--class maybe: task emotion of region has labels yes, no/);
  await fails([notImage, '--model', model, '--task', 'age', '--out', out], 2, /model region has no class task "age"/);
  await fails([notImage, '--model', model, '--fill', 'white', '--out', out], 2, /--fill must be gray, mean, black/);
  await fails(['--model', model, '--out', out], 2, /give exactly one image/);
});

test('facesense explain with YuNet and the shipped emotion model: one map per face, on the analyzer\'s aligned crop', { skip: !hasShared }, async () => {
  const out = await tempDir();
  await explainCli([media('single_face.jpg'), '--model', 'emotion-ferplus', '--out', out, '--patch', '12', '--stride', '6']);
  const json = JSON.parse(await readFile(join(out, 'explain.json'), 'utf8')) as { faces: { baseline: number; analyzerScore: number; map: { values: number[][] }; grid: { drops: number[][] } }[] };
  assert.equal(json.faces.length, 1);
  const f = json.faces[0]!;
  assert.ok(Math.abs(f.baseline - f.analyzerScore) < 1e-4, `same crop as the analyzer: ${f.baseline} vs ${f.analyzerScore}`);
  assert.equal(f.map.values.length, 48);
  assert.equal(f.grid.drops.length, 7);
  assert.ok(f.map.values.flat().every((v) => Number.isFinite(v) && v <= f.baseline + 1e-9 && v >= f.baseline - 1 - 1e-9));
});
