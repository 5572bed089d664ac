import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { mergePacks } from '../src/data/merge-packs.js';
import type { PackMeta } from '../src/data/pack.js';
import type { TargetSpec } from '../src/data/types.js';
import { DatasetError } from '../src/core/errors.js';
import { readNpy, writeNpy } from '../src/io/npy.js';

const EMOTION: TargetSpec = { name: 'emotion', kind: 'distribution', classes: ['neutral', 'happiness'] };
const GENDER: TargetSpec = { name: 'gender', kind: 'class', classes: ['male', 'female'] };
const AGE: TargetSpec = { name: 'age', kind: 'regression' };

interface FakePack {
  size?: number;
  crop?: Record<string, string | number>;
  framing?: { eyeDistance: number; eyeY: number };
  targets: TargetSpec[];
  /** split → rows of [pixel value, label per target]. */
  rows: Record<string, { px: number; labels: Record<string, number | number[]> }[]>;
}

async function writeFakePack(dir: string, p: FakePack): Promise<string> {
  await mkdir(dir, { recursive: true });
  const size = p.size ?? 2;
  const splits: Record<string, { count: number; perClass: Record<string, never> }> = {};
  for (const [split, rows] of Object.entries(p.rows)) {
    await writeNpy(join(dir, `${split}_x.npy`), { dtype: 'uint8', shape: [rows.length, size, size, 1], data: Uint8Array.from(rows.flatMap((r) => new Array<number>(size * size).fill(r.px))) });
    for (const t of p.targets) {
      const values = rows.map((r) => r.labels[t.name]!);
      if (t.kind === 'class') await writeNpy(join(dir, `${split}_${t.name}.npy`), { dtype: 'int64', shape: [rows.length], data: BigInt64Array.from(values.map((v) => BigInt(v as number))) });
      else if (t.kind === 'regression') await writeNpy(join(dir, `${split}_${t.name}.npy`), { dtype: 'float32', shape: [rows.length], data: Float32Array.from(values as number[]) });
      else await writeNpy(join(dir, `${split}_${t.name}.npy`), { dtype: 'float32', shape: [rows.length, t.classes!.length], data: Float32Array.from((values as number[][]).flat()) });
    }
    splits[split] = { count: rows.length, perClass: {} };
  }
  const meta = {
    format: 'facesense-pack', version: 1,
    source: { layout: 'fake', root: dir },
    image: { height: size, width: size, channels: 1 },
    preprocessing: { crop: p.crop ?? { mode: 'none' }, resize: 'bilinear', fit: 'cover', ...(p.framing ? { framing: p.framing } : {}) },
    targets: p.targets, splits, skipped: { count: 1, items: [] }, createdBy: 'test',
  };
  await writeFile(join(dir, 'meta.json'), JSON.stringify(meta));
  return dir;
}

describe('mergePacks', async () => {
  const root = await mkdtemp(join(tmpdir(), 'facesense-merge-'));
  after(() => rm(root, { recursive: true, force: true }));
  // A pre-cropped expression pack with measured framing and an aligned face pack with the same framing.
  const fer = await writeFakePack(join(root, 'fer'), {
    framing: { eyeDistance: 0.3624, eyeY: 0.3956 },
    targets: [EMOTION],
    rows: { train: [{ px: 1, labels: { emotion: [0.25, 0.75] } }, { px: 2, labels: { emotion: [1, 0] } }], test: [{ px: 3, labels: { emotion: [0, 1] } }] },
  });
  const utk = await writeFakePack(join(root, 'utk'), {
    crop: { mode: 'aligned', eyeDistance: 0.36244, eyeY: 0.39557, detector: 'yunet' },
    targets: [AGE, GENDER],
    rows: { train: [{ px: 10, labels: { age: 30, gender: 1 } }], val: [{ px: 11, labels: { age: 4, gender: 0 } }, { px: 12, labels: { age: 60, gender: 1 } }] },
  });

  it('concatenates splits in pack order and marks targets a pack lacks as missing', async () => {
    const out = join(root, 'joint');
    const meta = await mergePacks([fer, utk], out);
    assert.deepEqual(meta.targets.map((t) => t.name), ['emotion', 'age', 'gender']);
    assert.deepEqual(Object.keys(meta.splits).sort(), ['test', 'train', 'val']);
    assert.deepEqual(meta.preprocessing.crop, { mode: 'aligned', eyeDistance: 0.3624, eyeY: 0.3956 });
    const x = await readNpy(join(out, 'train_x.npy'));
    assert.deepEqual(x.shape, [3, 2, 2, 1]);
    assert.deepEqual([...x.data].filter((_, i) => i % 4 === 0), [1, 2, 10]);
    const emotion = await readNpy(join(out, 'train_emotion.npy'));
    assert.deepEqual(emotion.shape, [3, 2]);
    assert.deepEqual([...emotion.data].slice(0, 4), [0.25, 0.75, 1, 0]);
    assert.ok([...emotion.data].slice(4).every(Number.isNaN));
    const gender = await readNpy(join(out, 'train_gender.npy'));
    assert.deepEqual([...(gender.data as BigInt64Array)], [-1n, -1n, 1n]);
    const age = await readNpy(join(out, 'train_age.npy'));
    assert.ok(Number.isNaN(age.data[0] as number) && Number.isNaN(age.data[1] as number) && age.data[2] === 30);
    // Splits only one pack has are copied with the other pack's targets missing.
    assert.equal(meta.splits.val?.count, 2);
    assert.deepEqual(meta.splits.val?.missing, { emotion: 2 });
    assert.deepEqual(meta.splits.val?.perClass.gender, { male: 1, female: 1 });
    assert.deepEqual(meta.splits.val?.regression?.age, { min: 4, max: 60, mean: 32 });
    assert.deepEqual(meta.splits.train?.missing, { emotion: 1, age: 2, gender: 2 });
    assert.equal(meta.skipped.count, 2);
    const onDisk = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8')) as PackMeta;
    assert.equal(onDisk.splits.test?.count, 1);
  });

  it('refuses packs whose images, framing or shared targets differ, naming the pack', async () => {
    const big = await writeFakePack(join(root, 'big'), { size: 3, framing: { eyeDistance: 0.3624, eyeY: 0.3956 }, targets: [GENDER], rows: { train: [{ px: 0, labels: { gender: 0 } }] } });
    await assert.rejects(mergePacks([fer, big], join(root, 'o1')), (e: DatasetError) => e instanceof DatasetError && e.source === big && /same --size/.test(e.message));
    const framed = await writeFakePack(join(root, 'framed'), { crop: { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3 }, targets: [GENDER], rows: { train: [{ px: 0, labels: { gender: 0 } }] } });
    await assert.rejects(mergePacks([fer, framed], join(root, 'o2')), (e: DatasetError) => e.source === framed && /framing/.test(e.message));
    const other = await writeFakePack(join(root, 'other'), { framing: { eyeDistance: 0.3624, eyeY: 0.3956 }, targets: [{ name: 'gender', kind: 'class', classes: ['female', 'male'] }], rows: { train: [{ px: 0, labels: { gender: 0 } }] } });
    await assert.rejects(mergePacks([utk, other], join(root, 'o3')), (e: DatasetError) => e.source === other && /target "gender"/.test(e.message));
    await assert.rejects(mergePacks([fer, join(root, 'nope')], join(root, 'o4')), (e: DatasetError) => e.code === 'INPUT_NOT_FOUND' && /meta\.json/.test(e.message));
    await assert.rejects(mergePacks([fer], join(root, 'o5')), DatasetError);
  });

  it('refuses a pack whose arrays disagree with its meta.json', async () => {
    const broken = await writeFakePack(join(root, 'broken'), { framing: { eyeDistance: 0.3624, eyeY: 0.3956 }, targets: [GENDER], rows: { train: [{ px: 0, labels: { gender: 0 } }] } });
    await writeNpy(join(broken, 'train_gender.npy'), { dtype: 'int64', shape: [2], data: BigInt64Array.of(0n, 1n) });
    await assert.rejects(mergePacks([fer, broken], join(root, 'o6')), (e: DatasetError) => /rows do not match/.test(e.message));
  });
});
