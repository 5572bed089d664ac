import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { asComparableReport, compareReports, type ComparableReport, type Comparison } from '../src/eval/compare.js';
import { OptionError } from '../src/core/errors.js';
import { writeClassFolders } from './fixtures/datasets.js';
import { SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);
const env = { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' };

function fake(modelId: string, ids: string[], correct: boolean[], withPredictions = true): ComparableReport {
  const acc = correct.filter(Boolean).length / correct.length;
  const base = {
    modelId,
    dataset: { layout: 'folders', split: 'test', target: 'emotion' },
    evaluated: ids.length,
    accuracy: acc,
    balancedAccuracy: acc,
    macroF1: acc,
    perClass: { a: { f1: acc }, b: { f1: 1 - acc } },
  };
  return withPredictions ? { ...base, predictions: { id: ids, truth: ids.map(() => 0), predicted: correct.map((c) => (c ? 0 : 1)) } } : base;
}

test('compare pairs reports over the same samples, and falls back to unpaired or normal CIs', () => {
  const ids = Array.from({ length: 200 }, (_, i) => `s${i}`);
  const a = fake('m1', ids, ids.map((_, i) => i % 4 !== 0)); // 75%
  const b = fake('m2', ids, ids.map((_, i) => i % 4 !== 0 || i % 8 === 0)); // a plus 25 more right: 87.5%
  const other = fake('m3', ids.slice(0, 100), ids.slice(0, 100).map((_, i) => i % 2 === 0));
  const old = fake('m4', ids, ids.map(() => true), false); // written before per-sample results
  const c = compareReports([{ source: 'a.json', report: a }, { source: 'b.json', report: b }, { source: 'c.json', report: other }, { source: 'd.json', report: old }]);
  assert.deepEqual(c.models.map((m) => m.name), ['m1', 'm2', 'm3', 'm4']);
  assert.deepEqual(c.differences.map((d) => d.method), ['paired bootstrap', 'unpaired bootstrap', 'normal approximation']);
  const [paired, unpaired, normal] = c.differences as [Comparison['differences'][number], Comparison['differences'][number], Comparison['differences'][number]];
  assert.ok(Math.abs(paired.estimate - 0.125) < 1e-12);
  assert.ok(paired.lower > 0 && paired.lower <= paired.estimate && paired.estimate <= paired.upper);
  assert.ok(Math.abs(unpaired.estimate - (0.5 - 0.75)) < 1e-12);
  assert.ok(Math.abs(normal.estimate - 0.25) < 1e-12);
  assert.deepEqual(paired.samples, [200]);
  assert.deepEqual(c.classes, ['a', 'b']);
  // Same model twice on different splits: the names say which.
  const twice = compareReports([{ source: 'x', report: a }, { source: 'y', report: { ...a, dataset: { ...a.dataset, split: 'val' } } }]);
  assert.deepEqual(twice.models.map((m) => m.name), ['m1 · folders test', 'm1 · folders val']);
  assert.throws(() => asComparableReport({ modelId: 'x' }, 'bad.json'), (e: unknown) => e instanceof OptionError && /bad\.json is not a facesense eval report/.test(e.message));
});

test('facesense compare prints a table and writes compare.json and an offline compare.html', async () => {
  const root = await tempDir();
  await writeClassFolders(root, 'test', ['angry', 'happy', 'neutral', 'sad'], 4);
  const bin = resolve('bin/facesense.js');
  const base = ['eval', '--model', resolve('test/fixtures/tiny-emotion.onnx'), '--dataset', 'folders', '--root', root, '--split', 'test'];
  const plain = await tempDir();
  const tta = await tempDir();
  await run(process.execPath, [bin, ...base, '--out', plain], { env });
  await run(process.execPath, [bin, ...base, '--tta', '--out', tta], { env });
  const out = await tempDir();
  const { stdout } = await run(process.execPath, [bin, 'compare', join(plain, 'report.json'), tta, '--out', out], { env });
  assert.match(stdout, /model\s+n\s+accuracy\s+95% CI/);
  assert.match(stdout, /paired bootstrap, 16 samples/);
  const c = JSON.parse(await readFile(join(out, 'compare.json'), 'utf8')) as Comparison;
  assert.equal(c.models.length, 2);
  assert.equal(c.differences[0]!.method, 'paired bootstrap');
  assert.deepEqual(c.classes, ['angry', 'happy', 'neutral', 'sad']);
  assert.equal(c.roc.length, 2);
  const html = await readFile(join(out, 'compare.html'), 'utf8');
  assert.doesNotMatch(html, /https?:/i);
  assert.ok((html.match(/<svg/g) ?? []).length >= 3);

  const notReport = join(out, 'not-a-report.json');
  await writeFile(notReport, '{"hello": 1}');
  const failed = await run(process.execPath, [bin, 'compare', notReport], { env }).then(() => undefined, (e: unknown) => e as { code: number; stderr: string });
  assert.equal(failed?.code, 2);
  assert.match(failed.stderr, /not-a-report\.json is not a facesense eval report/);
});
