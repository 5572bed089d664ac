import assert from 'node:assert/strict';
import { copyFile, writeFile, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { createAnalyzer } from '../src/node/analyzer.js';
import type { StageTimings } from '../src/core/analyzer.js';
import { FacesenseError, ModelError, OptionError } from '../src/core/errors.js';
import { loadRgb, media, SHARED_MODELS, tempDir } from './helpers/media.js';
import { linearManifest, linearModel, writeModel } from './fixtures/onnx-builder.js';

const TINY = resolve('test', 'fixtures', 'tiny-emotion.onnx');
const store = { modelsDir: SHARED_MODELS, allowDownload: false };

test('analyzer runs detect → align → normalise → infer → post-process on a group photo', async () => {
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1 });
  try {
    assert.deepEqual(analyzer.tasks.map((t) => t.task), ['emotion']);
    const r = await analyzer.analyze(media('multi_face.jpg'));
    assert.equal(r.faces.length, 5);
    assert.deepEqual([r.widthPx, r.heightPx], [1000, 667]);
    for (const f of r.faces) {
      const e = f.attributes.emotion;
      assert.ok(e !== undefined && e.kind === 'class');
      const sum = Object.values(e.scores).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-6, 'softmax scores sum to 1');
      assert.equal(e.scores[e.label], e.score);
      assert.ok(Number.isFinite(f.alignment.rollDeg) && f.alignment.eyeDistancePx > 10);
    }
    for (const k of ['decodeMs', 'detectMs', 'alignMs', 'inferMs', 'totalMs'] as const) assert.ok(r.timings[k] >= 0);
  } finally {
    await analyzer.dispose();
  }
});

test('the same face gives the same scores from a path, a Buffer and raw pixels; TTA changes them', async () => {
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1 });
  try {
    const path = media('single_face.jpg');
    const a = await analyzer.analyze(path);
    const b = await analyzer.analyze(await readFile(path));
    const c = await analyzer.analyze(await loadRgb(path));
    const s = (r: typeof a) => (r.faces[0]!.attributes.emotion as { scores: Record<string, number> }).scores;
    assert.deepEqual(s(a), s(b));
    assert.deepEqual(s(a), s(c));
    assert.equal(b.source, '<buffer>');
    const t = await analyzer.analyze(path, { tta: true });
    assert.notDeepEqual(s(t), s(a));
  } finally {
    await analyzer.dispose();
  }
});

test('detector none classifies the whole input; classifyCrops batches crops', async () => {
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, detector: 'none', threads: 1 });
  try {
    const r = await analyzer.analyze(media('single_face.jpg'));
    assert.equal(r.faces.length, 1);
    assert.deepEqual(r.faces[0]!.boxPx, { x: 0, y: 0, width: 572, height: 562 });
    const crops = await analyzer.classifyCrops([media('single_face.jpg'), media('multi_face.jpg')]);
    assert.equal(crops.length, 2);
    assert.equal(crops[0]!.emotion?.kind, 'class');
    assert.deepEqual(crops[0], r.faces[0]!.attributes, 'a whole-image crop classifies as detector none does');
    // Settled: the undecodable crop is its own error; the stage timings cover the batch.
    const timings: StageTimings[] = [];
    const settled = await analyzer.classifyCropsSettled([media('single_face.jpg'), new Uint8Array([1, 2, 3])], { onTimings: (t) => timings.push(t) });
    assert.deepEqual(settled[0], { ok: true, attributes: crops[0] });
    assert.ok(!settled[1]!.ok && settled[1]!.error instanceof FacesenseError);
    assert.equal(timings.length, 1);
    const t = timings[0]!;
    assert.ok(t.detectMs === 0 && t.inferMs > 0 && t.postprocessMs !== undefined && t.totalMs >= t.decodeMs + t.alignMs + t.inferMs, JSON.stringify(t));
    await assert.rejects(analyzer.classifyCrops([media('single_face.jpg')], { onTimings: 'x' as never }), OptionError);
  } finally {
    await analyzer.dispose();
  }
});

test('no face → empty list, not an error; a face too small to align is reported, not classified', async () => {
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, minEyeDistancePx: 70, threads: 1 });
  try {
    assert.deepEqual((await analyzer.analyze(media('free-mountain-vector-01.jpg'))).faces, []);
    const r = await analyzer.analyze(media('single_face.jpg'));
    assert.equal(r.faces[0]!.skipped, undefined, 'the 85 px eye distance is above 70');
    const g = await analyzer.analyze(media('multi_face.jpg'));
    assert.ok(g.faces.length > 0, 'every() over an empty list would pass vacuously');
    assert.ok(g.faces.every((f) => f.skipped?.code === 'FACE_TOO_SMALL' && Object.keys(f.attributes).length === 0));
  } finally {
    await analyzer.dispose();
  }
});

test('analyzeMany keeps input order and turns bad inputs into typed error items', async () => {
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1 });
  const dir = await tempDir();
  const empty = join(dir, 'empty.png');
  await writeFile(empty, '');
  const inputs = [media('single_face.jpg'), empty, media('multi_face.jpg'), join(dir, 'nope.jpg')];
  const items = [];
  for await (const item of analyzer.analyzeMany(inputs, { concurrency: 3 })) items.push(item);
  await analyzer.dispose();
  assert.deepEqual(items.map((i) => i.source), inputs);
  assert.deepEqual(items.map((i) => (i.ok ? i.result.faces.length : i.error.code)), [1, 'INPUT_EMPTY', 5, 'INPUT_NOT_FOUND']);
  await assert.rejects(analyzer.analyze(media('single_face.jpg')), (e: unknown) => e instanceof FacesenseError && e.code === 'DISPOSED');
});

test('asking for a task no installed model answers is a clear error', async () => {
  await assert.rejects(createAnalyzer({ tasks: ['emotion'], store: { ...store, bundledModelsDir: await tempDir() } }), (e: unknown) => e instanceof ModelError && e.code === 'MODEL_NOT_FOUND');
  await assert.rejects(createAnalyzer({ tasks: ['telepathy'], store }), OptionError);
  await assert.rejects(createAnalyzer({ detector: 'hough' as 'none', store }), OptionError);
});

test('a broken model file is a ModelError naming it', async () => {
  const dir = await tempDir();
  await copyFile(TINY.replace(/\.onnx$/, '.json'), join(dir, 'tiny-emotion.json'));
  await writeFile(join(dir, 'tiny-emotion.onnx'), 'not onnx');
  await assert.rejects(createAnalyzer({ models: [join(dir, 'tiny-emotion.onnx')], store }), (e: unknown) => e instanceof ModelError && e.message.includes('tiny-emotion.onnx'));
});

test('embeddings: the trunk features of every model that declares them, per face', async () => {
  const analyzer = await createAnalyzer({ models: ['emotion-ferplus', TINY], tasks: ['emotion'], store, threads: 1, embeddings: true });
  try {
    const r = await analyzer.analyze(media('multi_face.jpg'));
    assert.equal(r.faces.length, 5);
    const vectors = r.faces.map((f) => f.embeddings?.['emotion-ferplus']);
    for (const v of vectors) {
      assert.ok(Array.isArray(v) && v.length === 256 && v.every(Number.isFinite));
      assert.ok(v.some((x) => x !== 0));
    }
    assert.notDeepEqual(vectors[0], vectors[1]);
    // Plain arrays: the JSON of a result is the same in Node, the browser, the CLI and over HTTP.
    const json = JSON.parse(JSON.stringify(r.faces[0])) as { embeddings: Record<string, unknown> };
    assert.ok(Array.isArray(json.embeddings['emotion-ferplus']), 'embeddings serialise as JSON arrays, not {"0": …} objects');
    assert.deepEqual(json.embeddings['emotion-ferplus'], vectors[0]);
    assert.ok(!('tiny-emotion' in r.faces[0]!.embeddings!), 'a model without an embedding output adds none');
  } finally {
    await analyzer.dispose();
  }
  const plain = await createAnalyzer({ models: ['emotion-ferplus'], store, threads: 1 });
  try {
    assert.equal((await plain.analyze(media('single_face.jpg'))).faces[0]!.embeddings, undefined);
  } finally {
    await plain.dispose();
  }
});

test('a task two models list is answered by the first one given, not overwritten by the next', async () => {
  const dir = await tempDir();
  // A second "emotion" model whose scores differ from the fixture's: a linear model over 8×8 pixels.
  const labels = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'];
  const weights = Float32Array.from({ length: 64 * labels.length }, (_, i) => ((i * 37) % 11) / 50 - 0.1);
  const linear = await writeModel(dir, 'linear-emotion', linearModel({ width: 8, height: 8, weights, classes: labels.length }), linearManifest('linear-emotion', { width: 8, height: 8, labels }));
  const scores = async (models: string[]) => {
    const a = await createAnalyzer({ models, tasks: ['emotion'], store, detector: 'none', threads: 1 });
    try {
      const r = await a.analyze(media('single_face.jpg'));
      return { tasks: a.tasks.map((t) => `${t.task}←${t.model}`), scores: (r.faces[0]!.attributes.emotion as { scores: Record<string, number> }).scores };
    } finally {
      await a.dispose();
    }
  };
  const alone = { linear: await scores([linear]), tiny: await scores([TINY]) };
  assert.notDeepEqual(alone.linear.scores, alone.tiny.scores);
  const linearFirst = await scores([linear, TINY]);
  assert.deepEqual(linearFirst.tasks, ['emotion←linear-emotion']);
  assert.deepEqual(linearFirst.scores, alone.linear.scores);
  const tinyFirst = await scores([TINY, linear]);
  assert.deepEqual(tinyFirst.tasks, ['emotion←tiny-emotion']);
  assert.deepEqual(tinyFirst.scores, alone.tiny.scores);
});

test('detectorInputSide: a smaller detector input finds the same face, boxes in original pixels; bad values are OptionErrors', async () => {
  const full = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1 });
  const small = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1, detectorInputSide: 320 });
  try {
    const a = (await full.analyze(media('single_face.jpg'))).faces;
    const b = (await small.analyze(media('single_face.jpg'))).faces;
    assert.equal(a.length, 1);
    assert.equal(b.length, 1);
    const [p, q] = [a[0]!.boxPx, b[0]!.boxPx];
    assert.ok(Math.abs(p.x - q.x) < 0.05 * p.width && Math.abs(p.width - q.width) < 0.1 * p.width, `${JSON.stringify(p)} vs ${JSON.stringify(q)}`);
  } finally {
    await full.dispose();
    await small.dispose();
  }
  for (const bad of [0, 31, 100.5, Number.NaN]) await assert.rejects(createAnalyzer({ models: [TINY], tasks: ['emotion'], store, detectorInputSide: bad }), OptionError);
});

test('occlusion model: measured on every detected face when installed, skipped with occlusion: false, checked', async () => {
  const on = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1 });
  const off = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store, threads: 1, occlusion: false });
  try {
    const [a, b] = [await on.analyze(media('multi_face.jpg')), await off.analyze(media('multi_face.jpg'))];
    assert.equal(a.faces.length, 5);
    for (const f of a.faces) {
      const o = f.quality?.occlusion;
      assert.ok(o !== undefined && [o.eyes, o.nose, o.mouth].every((v) => v >= 0 && v <= 1), JSON.stringify(f.quality));
    }
    assert.deepEqual(b.faces.map((f) => f.quality?.occlusion), [undefined, undefined, undefined, undefined, undefined]);
    assert.deepEqual(b.faces.map((f) => f.quality?.reasons.includes('occlusion')), [false, false, false, false, false]);
    // The quality model answers no task.
    assert.deepEqual(on.tasks.map((t) => t.task), ['emotion']);
  } finally {
    await Promise.all([on.dispose(), off.dispose()]);
  }
  await assert.rejects(createAnalyzer({ models: [TINY], store, occlusion: 'yes' as unknown as boolean }), OptionError);
});
