import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { ModelError, OptionError } from '../src/core/errors.js';
import { pickActivations } from '../src/core/infer.js';
import { createClassifier } from '../src/node/platform.js';
import { activationPicture, argmax, channelMeans, layerMaps, layerSummary, meanMap, resizeMap, topIndices } from '../src/interpret/activations.js';
import { stackRows, tileGrid } from '../src/interpret/heatmap.js';
import { validateManifest, type ModelManifest } from '../src/core/models/manifest.js';
import type { Image8 } from '../src/core/types.js';
import { linearManifest, linearModel, onnxModel, tensor, writeModel } from './fixtures/onnx-builder.js';
import { SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);
const SIZE = 48;
/** The bright square: columns 8..15, rows 32..39 — cell (1, 4) of an 8-pixel grid, cells (4..7, 16..19) of a 2-pixel one. */
const SQUARE = { x: 8, y: 32, side: 8 };
const BACKGROUND = 100;

function squareImage(): Image8 {
  const data = new Uint8Array(SIZE * SIZE).fill(BACKGROUND);
  for (let v = SQUARE.y; v < SQUARE.y + SQUARE.side; v++) for (let u = SQUARE.x; u < SQUARE.x + SQUARE.side; u++) data[v * SIZE + u] = 255;
  return { data, width: SIZE, height: SIZE, channels: 1 };
}

/**
 * A model whose activations are known functions of the input x (scaled to 0..1):
 * `blocks` = Conv 8×8 stride 8 → [N, 3, 6, 6]: channel 0 the mean of each 8×8 block, channel 1
 * minus it, channel 2 half of it; `fine` = AveragePool 2×2 stride 2 → [N, 1, 24, 24]; plus a
 * linear two-class `emotion` head (class "yes" weighted on the square) so occlusion has a class.
 */
function activationModel(): Uint8Array {
  const k = 1 / 64;
  const conv = new Float32Array(3 * 64);
  for (let i = 0; i < 64; i++) {
    conv[i] = k;
    conv[64 + i] = -k;
    conv[128 + i] = 0.5 * k;
  }
  const logits = new Float32Array(SIZE * SIZE * 2);
  for (let v = SQUARE.y; v < SQUARE.y + SQUARE.side; v++) {
    for (let u = SQUARE.x; u < SQUARE.x + SQUARE.side; u++) logits[(v * SIZE + u) * 2] = 1 / 64;
  }
  return onnxModel({
    nodes: [
      { op: 'Flatten', inputs: ['input'], outputs: ['flat'], int: { axis: 1 } },
      { op: 'MatMul', inputs: ['flat', 'w_logits'], outputs: ['emotion'] },
      { op: 'Conv', inputs: ['input', 'w_blocks'], outputs: ['act_blocks'], ints: { kernel_shape: [8, 8], strides: [8, 8] } },
      { op: 'AveragePool', inputs: ['input'], outputs: ['act_fine'], ints: { kernel_shape: [2, 2], strides: [2, 2] } },
    ],
    initializers: [tensor('w_logits', [SIZE * SIZE, 2], logits), tensor('w_blocks', [3, 1, 8, 8], conv)],
    inputs: [{ name: 'input', dims: ['N', 1, SIZE, SIZE] }],
    outputs: [
      { name: 'emotion', dims: ['N', 2] },
      { name: 'act_blocks', dims: ['N', 3, 6, 6] },
      { name: 'act_fine', dims: ['N', 1, 24, 24] },
    ],
  });
}

const ACTIVATIONS = [
  { name: 'act_blocks', layer: 'blocks', channels: 3, height: 6, width: 6 },
  { name: 'act_fine', layer: 'stages.0', channels: 1, height: 24, width: 24 },
];

function activationManifest(id: string): ModelManifest {
  return validateManifest({ ...linearManifest(id, { width: SIZE, height: SIZE, labels: ['yes', 'no'] }), activations: ACTIVATIONS }, `${id}.json`);
}

async function writeActivationModel(dir: string, id = 'acts'): Promise<string> {
  return writeModel(dir, id, activationModel(), activationManifest(id));
}

const near = (a: number, b: number, eps = 1e-5) => assert.ok(Math.abs(a - b) < eps, `${a} ≠ ${b}`);
const BG = BACKGROUND / 255;

test('manifest: activations are optional; a malformed entry is refused naming it', () => {
  const base = linearManifest('m', { width: SIZE, height: SIZE, labels: ['yes', 'no'], embeddingSize: 4 }) as Record<string, unknown>;
  assert.equal(validateManifest(base, 'm.json').activations, undefined);
  assert.equal(validateManifest({ ...base, activations: ACTIVATIONS }, 'm.json').activations?.length, 2);
  const entry = ACTIVATIONS[0]!;
  const bad: [unknown, RegExp][] = [
    [{ ...entry, channels: 0 }, /activations\[0\] needs .*positive integer "channels", "height" and "width"/],
    [{ ...entry, height: 2.5 }, /activations\[0\]/],
    [{ ...entry, layer: undefined }, /activations\[0\] needs .*a "layer"/],
    [{ ...entry, name: 'emotion' }, /distinct from the other outputs' names/],
    [{ ...entry, name: 'embedding' }, /activations\[0\]/],
    ['act_blocks', /activations\[0\]/],
  ];
  for (const [a, re] of bad) {
    assert.throws(() => validateManifest({ ...base, activations: [a] }, 'm.json'), (e: unknown) => e instanceof ModelError && re.test(e.message) && /m\.json/.test(`${e.message} ${JSON.stringify(e)}`));
  }
  assert.throws(() => validateManifest({ ...base, activations: [entry, { ...entry, name: 'act_other' }] }, 'm.json'), /activations\[1\] needs .*a "layer" named once/);
  assert.throws(() => validateManifest({ ...base, activations: [entry, entry] }, 'm.json'), /activations\[1\]/);
  assert.throws(() => validateManifest({ ...base, activations: {} }, 'm.json'), /"activations" must be an array/);
});

test('map arithmetic: channel means, channel-mean map, argmax, top channels, resizing', () => {
  // 2 channels of 2×3: channel 0 = 0..5, channel 1 = 10 everywhere
  const m = layerMaps({ name: 'a', layer: 'l', channels: 2, height: 2, width: 3 }, Float32Array.from([0, 1, 2, 3, 4, 5, 10, 10, 10, 10, 10, 10]));
  assert.deepEqual(Array.from(channelMeans(m)), [2.5, 10]);
  assert.deepEqual(Array.from(meanMap(m)), [5, 5.5, 6, 6.5, 7, 7.5]);
  assert.deepEqual(argmax(meanMap(m), 3), { x: 2, y: 1, value: 7.5 });
  assert.deepEqual(argmax([1, 3, 3, 0], 2), { x: 1, y: 0, value: 3 }, 'first on ties');
  assert.deepEqual(topIndices([0.5, 2, -1, 2], 3), [1, 3, 0]);
  assert.deepEqual(topIndices([1, 2], 8), [1, 0]);
  assert.deepEqual(Array.from(resizeMap([1, 2, 3, 4], 2, 2, 4, 4, 'nearest')), [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  // bilinear, half-pixel centres: output x = 0..3 → source −0.25, 0.25, 0.75, 1.25 (clamped)
  assert.deepEqual(Array.from(resizeMap([0, 4], 2, 1, 4, 1, 'bilinear')), [0, 1, 3, 4]);
  assert.deepEqual(Array.from(resizeMap([7], 1, 1, 3, 2, 'bilinear')), [7, 7, 7, 7, 7, 7]);
  const s = layerSummary(m, { width: 6, height: 4 }, 1);
  assert.deepEqual(s.shape, { channels: 2, height: 2, width: 3 });
  assert.deepEqual(s.meanMap.argmax, { x: 2, y: 1, value: 7.5, crop: { xPx: 5, yPx: 3 } });
  assert.deepEqual(s.topChannels, [{ channel: 1, mean: 10, max: 10, argmax: { x: 0, y: 0, crop: { xPx: 1, yPx: 1 } } }]);
  const white = { data: new Uint8Array(2 * 1 * 3).fill(9), width: 2, height: 1, channels: 3 as const };
  const grid = tileGrid([white, white, white], 2, 1);
  assert.deepEqual([grid.width, grid.height], [5, 3]);
  assert.equal(grid.data[(2 * 5 + 3) * 3], 255, 'the empty place in the last row is white');
  assert.deepEqual([stackRows([white, grid], 2).width, stackRows([white, grid], 2).height], [5, 6]);
});

test('the classifier returns the exported maps, face by face, and only the unmirrored ones under TTA', async () => {
  const dir = await tempDir();
  const path = await writeActivationModel(dir);
  const manifest = activationManifest('acts');
  const classifier = await createClassifier(path, manifest, { threads: 1 });
  try {
    const flat: Image8 = { data: new Uint8Array(SIZE * SIZE).fill(255), width: SIZE, height: SIZE, channels: 1 };
    for (const tta of [false, true]) {
      const r = await classifier.run([squareImage(), flat], { activations: true, tta });
      assert.deepEqual(Object.keys(r.activations ?? {}), ['blocks', 'stages.0']);
      const [sq, fl] = r.activations!['blocks']!;
      assert.equal(sq!.length, 3 * 36);
      for (let c = 0; c < 3; c++) {
        for (let cell = 0; cell < 36; cell++) {
          const x = cell === 4 * 6 + 1 ? 1 : BG; // the square fills cell (1, 4)
          near(sq![c * 36 + cell]!, [1, -1, 0.5][c]! * x);
          near(fl![c * 36 + cell]!, [1, -1, 0.5][c]!);
        }
      }
      const fine = r.activations!['stages.0']![0]!;
      near(fine[16 * 24 + 4]!, 1);
      near(fine[16 * 24 + 3]!, BG);
      near(fine[0]!, BG);
    }
    const one = await classifier.run([squareImage()], { activations: ['act_fine'] });
    assert.deepEqual(Object.keys(one.activations ?? {}), ['stages.0'], 'a layer can be named by its output name');
    assert.equal((await classifier.run([squareImage()])).activations, undefined, 'no maps unless asked');
    assert.deepEqual((await classifier.run([], { activations: true })).activations, { blocks: [], 'stages.0': [] });
    await assert.rejects(classifier.run([squareImage()], { activations: ['stem'] }), (e: unknown) => e instanceof OptionError && /model acts has no activation output for layer "stem"; it declares blocks, stages\.0/.test(e.message));
  } finally {
    await classifier.dispose();
  }
  const plain = validateManifest(linearManifest('plain', { width: SIZE, height: SIZE, labels: ['yes', 'no'] }), 'plain.json');
  assert.throws(() => pickActivations(plain, true), (e: unknown) => e instanceof OptionError && /model plain declares no activation outputs.*--activations/.test(e.message));
});

test('the picture: the channel-mean map peaks on the square, over the crop and alone', () => {
  const m = layerMaps(ACTIVATIONS[0]!, (() => {
    const d = new Float32Array(3 * 36);
    for (let c = 0; c < 3; c++) for (let cell = 0; cell < 36; cell++) d[c * 36 + cell] = [1, -1, 0.5][c]! * (cell === 25 ? 1 : BG);
    return d;
  })());
  const img = activationPicture(squareImage(), m, 8);
  // top row: three 192-pixel panels (4× enlarged) with 4-pixel gaps; below: 3 channels at 96 px
  assert.equal(img.width, 3 * 192 + 2 * 4);
  assert.equal(img.height, 192 + 4 + 96);
  const px = (x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
  const alone = 2 * (192 + 4);
  assert.deepEqual(px(alone + 4 * 12, 4 * 36), [255, 255, 0], 'the peak cell is the hottest colour');
  assert.notDeepEqual(px(alone + 4 * 40, 4 * 4), [255, 255, 0]);
  assert.deepEqual(px(0, 0), [BACKGROUND, BACKGROUND, BACKGROUND], 'the first panel is the crop');
});

async function explainCli(args: string[]) {
  return run(process.execPath, [resolve('bin/facesense.js'), 'explain', ...args], { env: { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' } });
}

interface LayerJson {
  layer: string;
  output: string;
  shape: { channels: number; height: number; width: number };
  meanMap: { argmax: { x: number; y: number; value: number; crop: { xPx: number; yPx: number } }; values: number[][] };
  channelMeans: number[];
  topChannels: { channel: number; mean: number; argmax: { x: number; y: number } }[];
  png: string;
}

test('facesense explain --activations: one picture per face and layer, peaks where the input puts them', async () => {
  const dir = await tempDir();
  const model = await writeActivationModel(dir);
  const file = join(dir, 'face.png');
  const img = squareImage();
  await sharp(img.data, { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(file);
  const out = join(dir, 'out');
  const { stdout } = await explainCli([file, '--model', model.replace(/\.onnx$/, '.json'), '--detector', 'none', '--activations', '--top', '2', '--patch', '8', '--stride', '8', '--out', out]);
  assert.match(stdout, /face 0: yes p=0\.\d+; largest drop/, 'occlusion still runs');
  assert.match(stdout, /face 0 blocks 3×6×6: channel-mean peak 0\.16667 at cell \(1, 4\) ≈ crop \(12, 36\); most active channels 0 \(0\.40904\), 2 \(0\.20452\) → face-0-blocks\.png/);
  assert.match(stdout, /face 0 stages\.0 1×24×24: channel-mean peak 1 at cell \(4, 16\) ≈ crop \(9, 33\)/);
  const json = JSON.parse(await readFile(join(out, 'explain.json'), 'utf8')) as { activations: { layers: unknown[]; top: number }; faces: { class: string; activations: LayerJson[] }[] };
  assert.equal(json.activations.top, 2);
  assert.deepEqual(json.activations.layers, ACTIVATIONS);
  const [blocks, fine] = json.faces[0]!.activations;
  assert.equal(json.faces[0]!.class, 'yes');
  assert.deepEqual(blocks!.shape, { channels: 3, height: 6, width: 6 });
  const mean0 = (35 * BG + 1) / 36;
  blocks!.channelMeans.forEach((v, c) => near(v, [1, -1, 0.5][c]! * mean0));
  assert.deepEqual(blocks!.topChannels.map((c) => [c.channel, c.argmax.x, c.argmax.y]), [[0, 1, 4], [2, 1, 4]]);
  assert.deepEqual([blocks!.meanMap.argmax.x, blocks!.meanMap.argmax.y], [1, 4]);
  near(blocks!.meanMap.values[4]![1]!, 1 / 6);
  near(blocks!.meanMap.values[0]![0]!, BG / 6);
  assert.equal(blocks!.output, 'act_blocks');
  assert.deepEqual([fine!.layer, fine!.meanMap.argmax.x, fine!.meanMap.argmax.y, fine!.meanMap.values.length], ['stages.0', 4, 16, 24]);
  const meta = await sharp(join(out, blocks!.png)).metadata();
  assert.deepEqual([meta.width, meta.height], [3 * 192 + 2 * 4, 192 + 4 + 96]);
  assert.equal(fine!.png, 'face-0-stages.0.png');
  await sharp(join(out, fine!.png)).metadata();

  // activation maps only, one layer
  const only = join(dir, 'only');
  const { stdout: o } = await explainCli([file, '--model', model, '--detector', 'none', '--layers', 'stages.0', '--no-occlusion', '--out', only]);
  assert.doesNotMatch(o, /largest drop/);
  const j2 = JSON.parse(await readFile(join(only, 'explain.json'), 'utf8')) as { faces: { predicted: string; grid?: unknown; activations: LayerJson[] }[] };
  assert.deepEqual(j2.faces[0]!.activations.map((a) => a.layer), ['stages.0']);
  assert.equal(j2.faces[0]!.grid, undefined);
  assert.equal(j2.faces[0]!.predicted, 'yes');
});

test('facesense explain --activations on a model without them, and bad activation options, are option errors', async () => {
  const dir = await tempDir();
  const plain = await writeModel(dir, 'plain', linearModel({ width: SIZE, height: SIZE, weights: new Float32Array(SIZE * SIZE * 2), classes: 2 }), linearManifest('plain', { width: SIZE, height: SIZE, labels: ['yes', 'no'] }));
  const acts = await writeActivationModel(dir);
  const file = join(dir, 'face.png');
  await sharp(squareImage().data, { raw: { width: SIZE, height: SIZE, channels: 1 } }).png().toFile(file);
  const out = join(dir, 'out');
  const fails = async (args: string[], pattern: RegExp) =>
    assert.rejects(explainCli(args), (e: { code?: number; stderr?: string }) => (e.code === 2 && pattern.test(e.stderr ?? '') ? true : assert.fail(`exit ${e.code}: ${e.stderr}`)));
  await fails([file, '--model', plain, '--detector', 'none', '--activations', '--out', out], /model plain declares no activation outputs.*re-export it with `python -m training\.export .*--activations/);
  await fails([file, '--model', acts, '--detector', 'none', '--layers', 'stage9', '--out', out], /no activation output for layer "stage9"; it declares blocks, stages\.0/);
  await fails([file, '--model', acts, '--detector', 'none', '--layers', ',', '--out', out], /--layers needs at least one layer name/);
  await fails([file, '--model', acts, '--detector', 'none', '--activations', '--top', '0', '--out', out], /--top must be a positive integer/);
  await fails([file, '--model', acts, '--detector', 'none', '--no-occlusion', '--out', out], /--no-occlusion leaves nothing to explain/);
});
