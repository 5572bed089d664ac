import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { readNpy } from '../src/io/npy.js';
import { parseCsvLine } from '../src/data/loaders/common.js';
import { writeClassFolders } from './fixtures/datasets.js';
import { linearManifest, linearModel, writeModel } from './fixtures/onnx-builder.js';
import { tempDir } from './helpers/media.js';

const run = promisify(execFile);
const CLASSES = ['a', 'b', 'c'];
const SIZE = 48;

/**
 * A linear model over 48×48 gray crops whose embedding is [mean, 2·mean, 0] of the normalised
 * pixels: on flat images of value v it is exactly [v/255, 2v/255, 0], so PC1 explains all of the
 * variance and a sample's PC1 coordinate is √5·(v/255 − mean over samples).
 */
async function embeddingModel(dir: string): Promise<string> {
  const px = SIZE * SIZE;
  const weights = new Float32Array(px * 3);
  const embedding = new Float32Array(px * 3);
  for (let p = 0; p < px; p++) {
    for (let j = 0; j < 3; j++) weights[p * 3 + j] = j / px;
    embedding[p * 3] = 1 / px;
    embedding[p * 3 + 1] = 2 / px;
  }
  return writeModel(dir, 'linear-embed', linearModel({ width: SIZE, height: SIZE, weights, classes: 3, embedding: { weights: embedding, size: 3 } }), linearManifest('linear-embed', { width: SIZE, height: SIZE, labels: CLASSES, embeddingSize: 3 }));
}

async function embedCli(args: string[]) {
  return run(process.execPath, [resolve('bin/facesense.js'), 'embed', '--dataset', 'folders', '--split', 'test', ...args], { env: { ...process.env, FACESENSE_OFFLINE: '1' } });
}

test('facesense embed writes the embeddings (.npy), a CSV of samples, PCA and UMAP coordinates and figures', async () => {
  const dir = await tempDir();
  const model = await embeddingModel(dir);
  const root = join(dir, 'data');
  await writeClassFolders(root, 'test', CLASSES, 3);
  await writeFile(join(root, 'test', 'b', 'broken.png'), 'not a png');
  const out = join(dir, 'out');
  const { stdout } = await embedCli(['--model', model, '--root', root, '--out', out]);
  assert.match(stdout, /embedded 9 samples \(3 numbers each\) with linear-embed; 1 skipped/);
  assert.match(stdout, /PCA explained variance: 100\.0%/);

  const npy = await readNpy(join(out, 'embeddings.npy'));
  assert.equal(npy.dtype, 'float32');
  assert.deepEqual(npy.shape, [9, 3]);
  const lines = (await readFile(join(out, 'samples.csv'), 'utf8')).trim().split('\n').map((l) => parseCsvLine(l)!);
  assert.deepEqual(lines[0], ['index', 'id', 'file', 'label', 'predicted', 'pca_1', 'pca_2', 'umap_1', 'umap_2']);
  const rows = lines.slice(1);
  assert.equal(rows.length, 9);
  // writeClassFolders: class i, image k has value (37·i + 11·k) mod 256.
  const value = (label: string, file: string) => (37 * CLASSES.indexOf(label) + 11 * Number(/(\d+)\.png$/.exec(file)![1])) % 256;
  const means = rows.map((r) => value(r[3]!, r[2]!) / 255);
  const grand = means.reduce((a, b) => a + b, 0) / means.length;
  rows.forEach((r, i) => {
    const e = npy.data as Float32Array;
    assert.ok(Math.abs(e[3 * i]! - means[i]!) < 1e-5 && Math.abs(e[3 * i + 1]! - 2 * means[i]!) < 1e-5 && e[3 * i + 2] === 0, `row ${i}: ${e.slice(3 * i, 3 * i + 3).join(',')}`);
    assert.ok(Math.abs(Number(r[5]) - Math.sqrt(5) * (means[i]! - grand)) < 1e-5, `pca_1 of row ${i}`);
    assert.ok(Math.abs(Number(r[6])) < 1e-5, 'nothing is left for PC2');
    assert.equal(r[4], means[i] === 0 ? 'a' : 'c', 'logits [0, m, 2m]');
    assert.ok(Number.isFinite(Number(r[7])) && Number.isFinite(Number(r[8])));
  });
  const info = JSON.parse(await readFile(join(out, 'projection.json'), 'utf8')) as { samples: number; labels: Record<string, number>; pca: { explainedRatio: number[]; componentsFor90Percent: number }; umap: { neighbors: number }; skipped: { file: string }[] };
  assert.equal(info.samples, 9);
  assert.deepEqual(info.labels, { a: 3, b: 3, c: 3 });
  assert.equal(info.pca.explainedRatio.length, 3);
  assert.equal(info.pca.componentsFor90Percent, 1);
  assert.equal(info.umap.neighbors, 8);
  assert.equal(info.skipped.length, 1);
  assert.ok(info.skipped[0]!.file.endsWith('broken.png'));
  const html = await readFile(join(out, 'embed.html'), 'utf8');
  assert.equal((html.match(/<svg/g) ?? []).length, 2);
  assert.doesNotMatch(html, /<script/);
  assert.match(await readFile(join(out, 'pca.svg'), 'utf8'), /PC1 \(100\.0%\)/);

  const limited = join(dir, 'limited');
  await embedCli(['--model', model, '--root', root, '--out', limited, '--limit', '4', '--projection', 'pca']);
  assert.deepEqual((await readNpy(join(limited, 'embeddings.npy'))).shape, [4, 3]);
  assert.doesNotMatch(await readFile(join(limited, 'samples.csv'), 'utf8'), /umap/);
});

test('facesense embed: a model without an embedding output and bad options are typed errors', async () => {
  const dir = await tempDir();
  const root = join(dir, 'data');
  await writeClassFolders(root, 'test', CLASSES, 1);
  await assert.rejects(embedCli(['--model', resolve('test/fixtures/tiny-emotion.onnx'), '--root', root, '--out', join(dir, 'o')]), (e: { code?: number; stderr?: string }) => e.code === 1 && /tiny-emotion.onnx: model tiny-emotion has no embedding output .*\[MODEL_INVALID\]/.test(e.stderr ?? ''));
  const model = await embeddingModel(dir);
  await assert.rejects(embedCli(['--model', model, '--root', root, '--out', join(dir, 'o'), '--projection', 'tsne']), (e: { code?: number; stderr?: string }) => e.code === 2 && /--projection: unknown tsne/.test(e.stderr ?? ''));
  await assert.rejects(embedCli(['--model', model, '--root', root]), (e: { code?: number; stderr?: string }) => e.code === 2 && /--out are required/.test(e.stderr ?? ''));
  await assert.rejects(embedCli(['--model', model, '--root', root, '--out', join(dir, 'o'), '--split', 'nope']), (e: { code?: number; stderr?: string }) => e.code === 2 && /no sample of split "nope"/.test(e.stderr ?? ''));
});
