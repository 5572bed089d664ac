import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { test } from 'node:test';
import type { BatchItem, ImageResult } from '../src/core/analyzer.js';
import { ImageDecodeError, OptionError } from '../src/core/errors.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { createAnalyzerPool } from '../src/node/pool.js';
import { loadRgb, media, SHARED_MODELS } from './helpers/media.js';

const TINY = resolve('test', 'fixtures', 'tiny-emotion.onnx');
const options = { models: [TINY], tasks: ['emotion'], store: { modelsDir: SHARED_MODELS, allowDownload: false }, threads: 1 };

/** A result without its timings (the only part that differs from run to run). */
const stable = (r: ImageResult) => ({ ...r, timings: undefined });

test('the worker pool gives the in-process analyzer\'s results, in input order, with typed errors per input', async () => {
  const local = await createAnalyzer(options);
  const pool = await createAnalyzerPool({ ...options, workers: 2 });
  try {
    assert.deepEqual(pool.tasks, local.tasks);
    assert.equal(pool.detectorName, local.detectorName);
    const inputs = [media('multi_face.jpg'), new Uint8Array([1, 2, 3, 4]), await readFile(media('single_face.jpg')), await loadRgb(media('single_face.jpg')), media('multi_face.jpg')];
    const want: BatchItem[] = [];
    for await (const it of local.analyzeMany(inputs, { concurrency: 1 })) want.push(it);
    const got: BatchItem[] = [];
    for await (const it of pool.analyzeMany(inputs)) got.push(it);
    assert.deepEqual(got.map((g) => g.source), want.map((w) => w.source));
    for (const [i, g] of got.entries()) {
      const w = want[i]!;
      if (w.ok) {
        assert.ok(g.ok, `item ${i} ok`);
        assert.deepEqual(stable(g.result), stable(w.result));
      } else {
        assert.ok(!g.ok, `item ${i} failed`);
        assert.ok(g.error instanceof ImageDecodeError, 'the error keeps its class across the thread boundary');
        assert.equal(g.error.code, w.error.code);
        assert.equal(g.error.message, w.error.message);
        assert.equal(g.error.source, w.error.source);
      }
    }
    assert.equal(got.filter((g) => g.ok).length, 4);

    // Crops, split across the workers, come back as the in-process ones, in order.
    const crops = await Promise.all(Array.from({ length: 70 }, (_, i) => loadRgb(media(i % 2 === 0 ? 'single_face.jpg' : 'multi_face.jpg'))));
    assert.deepEqual(await pool.classifyCrops(crops), await local.classifyCrops(crops));
  } finally {
    await Promise.all([local.dispose(), pool.dispose()]);
  }
  await assert.rejects(() => pool.analyze(media('single_face.jpg')), { code: 'DISPOSED' });
});

test('the worker pool refuses options that cannot cross threads', async () => {
  await assert.rejects(() => createAnalyzerPool({ ...options, workers: 0 }), OptionError);
  await assert.rejects(() => createAnalyzerPool({ ...options, detector: { name: 'x', detect: async () => [], dispose: async () => undefined } }), OptionError);
  await assert.rejects(() => createAnalyzerPool({ ...options, models: ['no-such-model'] }), { code: 'MODEL_NOT_FOUND' });
});
