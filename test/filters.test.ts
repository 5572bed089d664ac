import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { ModelError } from '../src/core/errors.js';
import { bestMatches, chanceMeanBest, cosine, cosineMatrix, filterGrid, filterRows, grayEquivalent, greedyPairing } from '../src/interpret/filters.js';
import { firstConvWeight, parseOnnxGraph, readFirstConvWeight } from '../src/interpret/onnx-weights.js';
import { convModel, onnxModel, tensor, writeModel } from './fixtures/onnx-builder.js';
import { tempDir } from './helpers/media.js';

const run = promisify(execFile);

/** Four 1×3×3 filters: a vertical edge, a horizontal edge, a centre spot, a diagonal. */
const FILTERS = Float32Array.from([
  ...[-1, 0, 1, -1, 0, 1, -1, 0, 1],
  ...[-1, -1, -1, 0, 0, 0, 1, 1, 1],
  ...[0, 0, 0, 0, 4, 0, 0, 0, 0],
  ...[2, 0, 0, 0, 2, 0, 0, 0, 2],
]);
/** The same filters in the order 2, 0, 3, 1, the first one negated and the third scaled by 3. */
const PERMUTED = Float32Array.from([
  ...[0, 0, 0, 0, -4, 0, 0, 0, 0],
  ...[-1, 0, 1, -1, 0, 1, -1, 0, 1],
  ...[6, 0, 0, 0, 6, 0, 0, 0, 6],
  ...[-1, -1, -1, 0, 0, 0, 1, 1, 1],
]);

test('the ONNX reader finds the first Conv weight whether stored as raw_data, float_data or a Constant node', () => {
  for (const o of [{}, { encoding: 'float_data' as const }, { constant: true }]) {
    const w = firstConvWeight(parseOnnxGraph(convModel(FILTERS, [4, 1, 3, 3], o), 'conv.onnx'));
    assert.deepEqual(w.dims, [4, 1, 3, 3]);
    assert.equal(w.node, 'stem');
    assert.deepEqual(Array.from(w.data), Array.from(FILTERS));
  }
});

test('the ONNX reader reads the shipped emotion model: 32 gray 3×3 filters, finite, not all zero', async () => {
  const w = await readFirstConvWeight(resolve('models/emotion-ferplus.onnx'));
  assert.deepEqual(w.dims, [32, 1, 3, 3]);
  assert.equal(w.data.length, 288);
  assert.ok(w.data.every(Number.isFinite));
  assert.ok(w.data.some((v) => Math.abs(v) > 1e-3));
});

test('the ONNX reader rejects files that are not ONNX, are cut short, or have no Conv, naming the file', async () => {
  assert.throws(() => parseOnnxGraph(new TextEncoder().encode('hello, this is text'), 'notes.txt'), (e: unknown) => e instanceof ModelError && e.code === 'MODEL_INVALID' && e.message.startsWith('notes.txt: '));
  const bytes = convModel(FILTERS, [4, 1, 3, 3]);
  assert.throws(() => parseOnnxGraph(bytes.subarray(0, bytes.length - 20), 'cut.onnx'), /cut\.onnx: .*ends inside a field/);
  const noConv = onnxModel({ nodes: [{ op: 'Relu', inputs: ['input'], outputs: ['y'] }], initializers: [tensor('unused', [1], [0])], inputs: [{ name: 'input', dims: [1] }], outputs: [{ name: 'y', dims: [1] }] });
  assert.throws(() => firstConvWeight(parseOnnxGraph(noConv, 'relu.onnx')), /relu\.onnx: the model has no Conv node \(ops: Relu\)/);
  await assert.rejects(readFirstConvWeight('/nonexistent/model.onnx'), (e: unknown) => e instanceof Error && 'code' in e && e.code === 'MODEL_NOT_FOUND');
});

test('cosine similarity finds each filter\'s permuted, rescaled copy; sign matters', () => {
  const m = cosineMatrix(filterRows({ dims: [4, 1, 3, 3], data: FILTERS }), filterRows({ dims: [4, 1, 3, 3], data: PERMUTED }));
  assert.equal(m.length, 4);
  assert.ok(Math.abs(m[2]![0]! + 1) < 1e-12, 'centre spot vs its negation is −1');
  const best = bestMatches(m);
  assert.deepEqual(best.map((b) => b.index), [1, 3, best[2]!.index, 2]);
  assert.ok(Math.abs(best[0]!.cosine - 1) < 1e-12 && Math.abs(best[3]!.cosine - 1) < 1e-12);
  assert.ok(best[2]!.cosine < 1, 'the negated filter has no positive match');
  assert.deepEqual(greedyPairing(m).slice(0, 2), [1, 3]);
  assert.equal(new Set(greedyPairing(m)).size, 4, 'pairing is a permutation');
  assert.equal(cosine([1, 0], [0, 0]), 0);
  const g = grayEquivalent({ dims: [1, 3, 1, 2], data: Float32Array.from([1, 2, 10, 20, 100, 200]) });
  assert.deepEqual([g.dims, Array.from(g.data)], [[1, 1, 1, 2], [111, 222]]);
  const chance = chanceMeanBest(32, 32, 9);
  assert.ok(chance > 0.5 && chance < 0.95, `32 random 9-D filters find a fairly close match by chance: ${chance}`);
  assert.equal(chanceMeanBest(32, 32, 9), chance, 'seeded');
});

test('filter grid: one tile per filter, zero at mid-gray, each filter scaled to its own peak', () => {
  const img = filterGrid({ dims: [4, 1, 3, 3], data: FILTERS }, { scale: 1, gap: 1 });
  assert.equal(img.width, 2 * 3 + 3);
  assert.equal(img.height, 2 * 3 + 3);
  const px = (x: number, y: number) => img.data[(y * img.width + x) * 3]!;
  assert.equal(px(1, 1), 1); // filter 0 top-left: −1 of peak 1
  assert.equal(px(2, 1), 128);
  assert.equal(px(3, 1), 255);
  assert.equal(px(5 + 1, 5 + 1), 255); // filter 3 (second row, second column) centre: its peak 2
  assert.equal(px(0, 0), 255); // gap
});

test('facesense filters writes grids, the similarity heat table and best matches for two models', async () => {
  const dir = await tempDir();
  const manifest = (id: string, channels: 1 | 3) => ({ id, format: 1, input: { name: 'input', width: 8, height: 8, channels, layout: 'NCHW', crop: { mode: 'none' }, normalisation: { kind: 'scale', scale: 1 } }, outputs: [{ task: 't', name: 'features', decode: 'identity', labels: ['x'] }] });
  const a = await writeModel(dir, 'conv-a', convModel(FILTERS, [4, 1, 3, 3]), manifest('conv-a', 1));
  const b = await writeModel(dir, 'conv-b', convModel(PERMUTED, [4, 1, 3, 3]), manifest('conv-b', 1));
  // Colour filters whose channel sums are A's filters 0 and 1: the vertical edge split over R, G, B; the horizontal edge in R only.
  const rgb = Float32Array.from([...[0, 1, 2].flatMap(() => Array.from(FILTERS.subarray(0, 9), (v) => v / 3)), ...FILTERS.subarray(9, 18), ...new Array<number>(18).fill(0)]);
  const c = await writeModel(dir, 'conv-rgb', convModel(rgb, [2, 3, 3, 3]), manifest('conv-rgb', 3));
  const d = await writeModel(dir, 'conv-5x5', convModel(new Float32Array(4 * 25).fill(1), [4, 1, 5, 5]), manifest('conv-5x5', 1));
  const out = join(dir, 'out');
  const { stdout, stderr } = await run(process.execPath, [resolve('bin/facesense.js'), 'filters', '--model', a, '--model', b, '--model', c, '--model', d, '--out', out], { env: { ...process.env, FACESENSE_OFFLINE: '1' } });
  assert.match(stdout, /conv-a vs conv-b: mean best-match cosine /);
  assert.match(stdout, /conv-a vs conv-rgb \(colour filters summed over channels\): mean best-match cosine /);
  assert.match(stderr, /conv-a \[4×1×3×3\] vs conv-5x5 \[4×1×5×5\]: kernels of different sizes or input channels cannot be compared/);
  const json = JSON.parse(await readFile(join(out, 'filters.json'), 'utf8')) as { pairs: { a: string; b: string; compared: string; bestAtoB: { match: number; cosine: number }[]; bestBtoA: { match: number; cosine: number }[]; cosine: number[][] }[]; skippedPairs: string[] };
  assert.deepEqual(json.pairs.map((p) => `${p.a}/${p.b}/${p.compared}`), ['conv-a/conv-b/weights', 'conv-a/conv-rgb/gray', 'conv-b/conv-rgb/gray']);
  assert.deepEqual(json.pairs[1]!.bestBtoA.map((x) => [x.match, x.cosine]), [[0, 1], [1, 1]], 'each colour filter finds the gray filter it sums to');
  assert.equal(json.skippedPairs.length, 3);
  assert.deepEqual(json.pairs[0]!.bestAtoB.map((x) => x.match).filter((_, i) => i !== 2), [1, 3, 2]);
  assert.equal(json.pairs[0]!.cosine[2]![0], -1);
  const csv = (await readFile(join(out, 'similarity-conv-a__conv-b.csv'), 'utf8')).trim().split('\n');
  assert.equal(csv.length, 5);
  assert.equal(csv[0], 'filter,conv-b_0,conv-b_1,conv-b_2,conv-b_3');
  const meta = await sharp(join(out, 'filters-conv-rgb.png')).metadata();
  assert.equal(meta.format, 'png');
  const html = await readFile(join(out, 'filters.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);
  const svg = await readFile(join(out, 'similarity-conv-a__conv-b.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
});

test('facesense filters: missing options are usage errors', async () => {
  await assert.rejects(run(process.execPath, [resolve('bin/facesense.js'), 'filters', '--out', '/tmp/x']), (e: { code?: number; stderr?: string }) => e.code === 2 && /--model \(at least one\) and --out are required/.test(e.stderr ?? ''));
});
