import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OptionError } from '../src/core/errors.js';
import type { Classifier } from '../src/core/infer.js';
import { teachPack } from '../src/data/teach.js';
import { readNpy, writeNpy } from '../src/io/npy.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { createModelStore } from '../src/node/models/store.js';
import { createClassifier } from '../src/node/platform.js';
import type { Analyzer } from '../src/core/analyzer.js';
import { cli } from './helpers/cli.js';
import { loadRgb, media, SHARED_MODELS, tempDir } from './helpers/media.js';

const MODEL = 'demographics-faceres';
const SIZE = 40;

/** A pack of real face crops (the test photos, resized) with a gender label, framed like the model's crops. */
async function writePack(dir: string, framing = { eyeDistance: 0.4, eyeY: 0.3 }): Promise<Uint8Array[]> {
  const rows: Uint8Array[] = [];
  for (const name of ['single_face.jpg', 'multi_face.jpg', 'single_face.jpg']) {
    const img = await loadRgb(media(name));
    const out = new Uint8Array(SIZE * SIZE * 3);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const sx = Math.floor(((x + 0.5) * img.width) / SIZE) + (rows.length === 2 ? 1 : 0);
        const sy = Math.floor(((y + 0.5) * img.height) / SIZE);
        for (let c = 0; c < 3; c++) out[(y * SIZE + x) * 3 + c] = img.data[(sy * img.width + Math.min(img.width - 1, sx)) * 3 + c]!;
      }
    }
    rows.push(out);
  }
  const splits: Record<string, { count: number; perClass: object }> = {};
  for (const [split, idx] of Object.entries({ train: [0, 1], val: [2] })) {
    await writeNpy(join(dir, `${split}_x.npy`), { dtype: 'uint8', shape: [idx.length, SIZE, SIZE, 3], data: Uint8Array.from(idx.flatMap((i) => [...rows[i]!])) });
    await writeNpy(join(dir, `${split}_gender.npy`), { dtype: 'int64', shape: [idx.length], data: BigInt64Array.from(idx.map(() => 0n)) });
    splits[split] = { count: idx.length, perClass: {} };
  }
  const meta = {
    format: 'facesense-pack', version: 1, source: { layout: 'test', root: dir },
    image: { height: SIZE, width: SIZE, channels: 3 },
    preprocessing: { crop: { mode: 'aligned', ...framing }, resize: 'bilinear', fit: 'cover' },
    targets: [{ name: 'gender', kind: 'class', classes: ['male', 'female'] }],
    splits, skipped: { count: 0, items: [] }, createdBy: 'test',
  };
  await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
  return rows;
}

describe('teach: a teacher model\'s distributions written into a pack', () => {
  let classifier: Classifier;
  let analyzer: Analyzer;
  before(async () => {
    const { modelPath, manifest } = await createModelStore({ modelsDir: SHARED_MODELS, allowDownload: false }).resolveModel(MODEL);
    classifier = await createClassifier(modelPath, manifest, { threads: 1 });
    analyzer = await createAnalyzer({ models: [MODEL], tasks: ['age', 'gender', 'ethnicity'], detector: 'none', store: { modelsDir: SHARED_MODELS, allowDownload: false }, threads: 1 });
  });
  after(async () => {
    await classifier.dispose();
    await analyzer.dispose();
  });

  it('writes one distribution per output and row, equal to what the analyzer reads from the same crop', async () => {
    const dir = await tempDir();
    const rows = await writePack(dir);
    const r = await teachPack(dir, classifier, { batch: 2 });
    assert.deepEqual(r.targets.map((t) => [t.name, t.classes?.length]), [['teacher_age', 101], ['teacher_gender', 2], ['teacher_ethnicity', 5]]);
    assert.deepEqual(r.rows, { train: 2, val: 1 });
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
    assert.deepEqual(meta.targets.map((t: { name: string }) => t.name), ['gender', 'teacher_age', 'teacher_gender', 'teacher_ethnicity']);
    assert.deepEqual(meta.teachers[1], { target: 'teacher_gender', model: MODEL, output: 'gender', tta: true });
    const expected = await analyzer.classifyCrops(rows.map((data) => ({ data, width: SIZE, height: SIZE, channels: 3 as const })), { tta: true });
    const gender = await readNpy(join(dir, 'train_teacher_gender.npy'));
    const age = await readNpy(join(dir, 'val_teacher_age.npy'));
    assert.deepEqual([gender.shape, age.shape], [[2, 2], [1, 101]]);
    for (let i = 0; i < 2; i++) {
      const g = expected[i]!.gender!;
      assert.ok(g.kind === 'class');
      assert.ok(Math.abs(gender.data[2 * i]! as number - g.scores.male!) < 1e-4, `row ${i}: ${gender.data[2 * i]} vs ${g.scores.male}`);
    }
    const p = Array.from(age.data as Float32Array);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    const a = expected[2]!.age!;
    assert.ok(a.kind === 'value');
    assert.ok(Math.abs(p.reduce((s, v, k) => s + v * k, 0) - a.value) < 0.05, 'the distribution\'s expectation is the age the analyzer reads');

    // Again with the same prefix: replaced, not duplicated; without TTA the numbers change.
    await teachPack(dir, classifier, { tta: false });
    const again = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
    assert.equal(again.targets.length, 4);
    assert.equal(again.teachers.length, 3);
    assert.equal(again.teachers[0].tta, false);
    assert.notDeepEqual(Array.from((await readNpy(join(dir, 'train_teacher_gender.npy'))).data as Float32Array), Array.from(gender.data as Float32Array));
  });

  it('refuses a prefix that would overwrite a label, and a pack framed unlike the model', async () => {
    const dir = await tempDir();
    await writePack(dir);
    await assert.rejects(teachPack(dir, classifier, { prefix: '' }), (e: unknown) => e instanceof OptionError && /label target "gender"/.test(e.message));
    await assert.rejects(teachPack(dir, classifier, { prefix: '../x' }), OptionError);
    const other = await tempDir();
    await writePack(other, { eyeDistance: 0.3624, eyeY: 0.3956 });
    await assert.rejects(teachPack(other, classifier), (e: unknown) => e instanceof OptionError && /frames faces/.test(e.message));
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
    assert.equal(meta.targets.length, 1, 'a refused run leaves the pack as it was');
  });

  it('runs from the CLI, and a folder that is not a pack is a typed error', async () => {
    const dir = await tempDir();
    await writePack(dir);
    const ok = await cli(['teach', '--model', MODEL, '--pack', dir, '--prefix', 'ens_', '--threads', '1']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /ens_age \(101\), ens_gender \(2\), ens_ethnicity \(5\); rows train 2, val 1/);
    const bad = await cli(['teach', '--model', MODEL, '--pack', await tempDir()]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /meta\.json: not a readable pack.*\[DATASET_INVALID\]/);
  });
});
