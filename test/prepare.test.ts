import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { alignFace } from '../src/core/align.js';
import { runPrepare, type PrepareIO } from '../src/cli/prepare.js';
import { mainFace } from '../src/data/face-crop.js';
import { decodeImage } from '../src/node/decode.js';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import { createYunetDetector } from '../src/node/platform.js';
import { createFer2013FoldersLoader } from '../src/data/loaders/fer2013-folders.js';
import { writePack, type PackMeta } from '../src/data/pack.js';
import { DatasetError } from '../src/core/errors.js';
import { readNpy, type NpyArray } from '../src/io/npy.js';
import { writeFer2013Csv, writeFer2013Folders, writeFerplusFolders, writeGray, writeRgb, writeText, writeUtkface } from './fixtures/datasets.js';
import { hasShared, media, SHARED_MODELS } from './helpers/media.js';

interface Captured extends PrepareIO {
  out: string;
  err: string;
}

function capture(): Captured {
  const c: Captured = {
    out: '',
    err: '',
    stdout: (t) => {
      c.out += t;
    },
    stderr: (t) => {
      c.err += t;
    },
  };
  return c;
}

async function readMeta(dir: string): Promise<PackMeta> {
  return JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as PackMeta;
}

function ints(a: NpyArray): number[] {
  return [...(a.data as BigInt64Array)].map(Number);
}

describe('facesense prepare', () => {
  let tmp = '';
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'facesense-prepare-'));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('packs fer2013.csv: pixels verbatim, labels, per-class counts, skipped rows with lines', async () => {
    const csv = join(tmp, 'csv', 'fer2013.csv');
    await writeFer2013Csv(csv);
    const out = join(tmp, 'pack-csv');
    const io = capture();
    assert.equal(await runPrepare(['--layout', 'fer2013-csv', '--root', csv, '--out', out], io), 0);

    const meta = await readMeta(out);
    assert.equal(meta.format, 'facesense-pack');
    assert.equal(meta.version, 1);
    assert.deepEqual(meta.image, { height: 48, width: 48, channels: 1 });
    assert.deepEqual(Object.keys(meta.splits), ['train', 'val', 'test']);
    assert.equal(meta.splits['train']?.perClass['emotion']?.['angry'], 1);
    assert.equal(meta.splits['val']?.perClass['emotion']?.['happy'], 1);
    assert.equal(meta.skipped.count, 4);
    assert.deepEqual(
      meta.skipped.items.map((p) => p.line),
      [4, 5, 7, 8],
    );
    assert.match(meta.createdBy, /^facesense prepare \d+\.\d+\.\d+/);

    const x = await readNpy(join(out, 'train_x.npy'));
    assert.equal(x.dtype, 'uint8');
    assert.deepEqual(x.shape, [1, 48, 48, 1]);
    assert.ok([...(x.data as Uint8Array)].length > 0, 'every() over an empty list would pass vacuously');
    assert.ok([...(x.data as Uint8Array)].every((v) => v === 10));
    const y = await readNpy(join(out, 'test_emotion.npy'));
    assert.equal(y.dtype, 'int64');
    assert.deepEqual(y.shape, [1]);
    assert.deepEqual(ints(y), [6]);
    assert.match(io.out, /train\s+1\s+emotion: angry 1/);
    assert.match(io.out, /Skipped: 4 \(4 errors/);
    assert.match(io.out, /fer2013\.csv:4: expected 2304 pixel values/);
  });

  it('packs image folders resized to RGB, and reports undecodable images', async () => {
    const root = join(tmp, 'fer-folders');
    await writeFer2013Folders(root, 'png', 64);
    await writeFile(join(root, 'train', 'angry', 'Training_200.jpg'), 'this is not a jpeg');
    const out = join(tmp, 'pack-folders');
    const io = capture();
    assert.equal(await runPrepare(['--layout', 'fer2013-folders', '--root', root, '--out', out, '--size', '32', '--channels', '3'], io), 0);
    const meta = await readMeta(out);
    assert.deepEqual(
      Object.fromEntries(Object.entries(meta.splits).map(([s, m]) => [s, m.count])),
      { train: 3, val: 1, test: 1 },
    );
    const x = await readNpy(join(out, 'train_x.npy'));
    assert.deepEqual(x.shape, [3, 32, 32, 3]);
    // Order is by file name: Training_050 (happy, gray 20) first.
    assert.deepEqual([...(x.data as Uint8Array).subarray(0, 3)], [20, 20, 20]);
    assert.deepEqual(ints(await readNpy(join(out, 'train_emotion.npy'))), [3, 4, 0]);
    const decode = meta.skipped.items.find((p) => p.file.endsWith('Training_200.jpg'));
    assert.ok(decode !== undefined && decode.kind === 'error' && /cannot decode/.test(decode.reason));

    const strictIo = capture();
    assert.equal(await runPrepare(['--layout', 'fer2013-folders', '--root', root, '--out', join(tmp, 'pack-strict'), '--strict'], strictIo), 1);
    assert.match(strictIo.err, /DatasetError \[DATASET_INVALID\]/);
    await assert.rejects(access(join(tmp, 'pack-strict', 'meta.json')), 'no meta.json for an aborted pack');

    // A decode failure under strict aborts mid-pack: no meta.json and no half-written .npy files.
    const bad = join(tmp, 'fer-bad-image');
    await writeGray(join(bad, 'train', 'angry', 'Training_1.png'), 5);
    await writeFile(join(bad, 'train', 'angry', 'Training_2.png'), 'not a png');
    await writeGray(join(bad, 'train', 'angry', 'Training_3.png'), 5);
    const badIo = capture();
    assert.equal(await runPrepare(['--layout', 'fer2013-folders', '--root', bad, '--out', join(tmp, 'pack-bad'), '--strict'], badIo), 1);
    assert.match(badIo.err, /Training_2\.png: cannot decode image/);
    assert.deepEqual(await readdir(join(tmp, 'pack-bad')), []);
  });

  it('packs FER+ with the vote distribution and majority, honouring --limit per split', async () => {
    const root = join(tmp, 'ferplus');
    await writeFerplusFolders(root);
    const out = join(tmp, 'pack-ferplus');
    assert.equal(await runPrepare(['--layout', 'ferplus-folders', '--root', root, '--out', out, '--limit', '1'], capture()), 0);
    const meta = await readMeta(out);
    assert.deepEqual(
      meta.targets.map((t) => [t.name, t.kind]),
      [
        ['emotion', 'distribution'],
        ['emotion_majority', 'class'],
      ],
    );
    assert.equal(meta.source.limitPerSplit, 1);
    assert.equal(meta.splits['train']?.count, 1);
    const dist = await readNpy(join(out, 'train_emotion.npy'));
    assert.equal(dist.dtype, 'float32');
    assert.deepEqual(dist.shape, [1, 8]);
    assert.deepEqual([...(dist.data as Float32Array)], [0.75, 0.25, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual(ints(await readNpy(join(out, 'val_emotion_majority.npy'))), [7]);
    assert.equal(meta.skipped.items.filter((p) => p.kind === 'excluded').length, 2);
  });

  it('packs FER+ under the reference protocol with --protocol majority (one-hot targets, ties left out)', async () => {
    const root = join(tmp, 'ferplus-majority');
    await writeFerplusFolders(root);
    const out = join(tmp, 'pack-ferplus-majority');
    assert.equal(await runPrepare(['--layout', 'ferplus-folders', '--root', root, '--out', out, '--protocol', 'majority'], capture()), 0);
    const meta = await readMeta(out);
    assert.equal(meta.splits['train']?.count, 1);
    assert.deepEqual([...((await readNpy(join(out, 'train_emotion.npy'))).data as Float32Array)], [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.ok(meta.skipped.items.some((p) => p.kind === 'excluded' && /more than half/.test(p.reason)));
    const io = capture();
    assert.equal(await runPrepare(['--layout', 'ferplus-folders', '--root', root, '--out', join(tmp, 'x'), '--protocol', 'strict'], io), 2);
    assert.match(io.err, /--protocol must be plurality or majority/);
  });

  it('packs UTKFace with regression, missing appearance labels as -1', async () => {
    const root = join(tmp, 'utk');
    const { splitFile, appearance } = await writeUtkface(root);
    const out = join(tmp, 'pack-utk');
    const args = ['--layout', 'utkface', '--root', root, '--out', out, '--split-file', splitFile, '--appearance', appearance, '--channels', '3', '--size', '16', '--crop', 'none'];
    assert.equal(await runPrepare(args, capture()), 0);
    const meta = await readMeta(out);
    const age = await readNpy(join(out, 'train_age.npy'));
    assert.equal(age.dtype, 'float32');
    assert.deepEqual([...(age.data as Float32Array)], [25]);
    assert.deepEqual(ints(await readNpy(join(out, 'train_glasses.npy'))), [1]);
    assert.deepEqual(ints(await readNpy(join(out, 'val_glasses.npy'))), [-1]);
    assert.equal(meta.splits['val']?.missing?.['glasses'], 1);
    assert.deepEqual(meta.splits['train']?.regression?.['age'], { min: 25, max: 25, mean: 25 });
    const x = await readNpy(join(out, 'train_x.npy'));
    assert.deepEqual(x.shape, [1, 16, 16, 3]);
    // Left half is red-ish (200, 0, 0), right half blue: colour order must survive.
    const px = x.data as Uint8Array;
    assert.ok((px[0] ?? 0) > 150 && (px[2] ?? 255) < 50, `left pixel ${px[0]},${px[1]},${px[2]}`);
    assert.ok((px[15 * 3 + 2] ?? 0) > 150, 'right pixel blue');
  });

  it('packs UTKFace chips detected by YuNet and aligned exactly as the analyzer crops photo faces', { skip: hasShared ? false : 'needs ../shared/models and media' }, async () => {
    // Chips in the UTKFace layout cut from a real photo (5 faces), plus one without a face.
    const root = join(tmp, 'utk-faces');
    const dir = join(root, 'crop_part1');
    await mkdir(dir, { recursive: true });
    const photo = await decodeImage(media('multi_face.jpg'));
    const detector = await createYunetDetector({ modelPath: join(SHARED_MODELS, 'yunet_dynamic.onnx'), threads: 1 });
    const names: string[] = [];
    try {
      const faces = (await detector.detect(photo, DEFAULT_DETECT_OPTIONS)).sort((a, b) => a.boxPx.x - b.boxPx.x);
      assert.equal(faces.length, 5);
      for (const [i, f] of faces.entries()) {
        const side = Math.round(Math.min(1.6 * Math.max(f.boxPx.width, f.boxPx.height), photo.width, photo.height));
        const left = Math.round(Math.min(Math.max(f.boxPx.x + f.boxPx.width / 2 - side / 2, 0), photo.width - side));
        const top = Math.round(Math.min(Math.max(f.boxPx.y + f.boxPx.height / 2 - side / 2, 0), photo.height - side));
        const name = `${20 + i}_${i % 2}_${i}_2017010100000000${i}.jpg.chip.jpg`;
        await sharp(media('multi_face.jpg')).extract({ left, top, width: side, height: side }).resize(200, 200).jpeg({ quality: 95 }).toFile(join(dir, name));
        names.push(name);
      }
    } finally {
      await detector.dispose();
    }
    const blank = '40_1_3_20170101000000009.jpg.chip.jpg';
    await writeGray(join(dir, blank), 128, 200);
    const splitFile = join(root, 'split.json');
    await writeText(splitFile, JSON.stringify({ format: 'facesense-split', version: 1, splits: { train: names.slice(0, 4), val: [names[4]], test: [blank] } }));
    const tsv = join(root, 'appearance.tsv');
    await writeText(tsv, `file\tglasses\tbeard\tmoustache\tunsure\tannotators\n${names[0]}\t2\t0\t0\t1\ta+b\n`);

    const prev = process.env['FACESENSE_MODELS'];
    process.env['FACESENSE_MODELS'] = SHARED_MODELS;
    try {
      const out = join(tmp, 'pack-utk-aligned');
      const io = capture();
      assert.equal(await runPrepare(['--layout', 'utkface', '--root', root, '--out', out, '--split-file', splitFile, '--appearance', tsv], io), 0, io.err);
      const meta = await readMeta(out);
      // UTKFace defaults: 64x64 RGB, YuNet + eye alignment.
      assert.deepEqual(meta.image, { height: 64, width: 64, channels: 3 });
      // Chips without a detected face are skipped (in UTKFace they are not faces), and counted.
      assert.deepEqual(meta.preprocessing.crop, { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3, detector: 'yunet', noFace: 'skip' });
      assert.deepEqual(
        Object.fromEntries(Object.entries(meta.splits).map(([k, v]) => [k, v.count])),
        { train: 4, val: 1 },
      );
      assert.deepEqual({ ...meta.preprocessing.noFace, items: meta.preprocessing.noFace?.items.length }, { count: 1, kept: 0, skipped: 1, items: 1 });
      assert.ok(meta.preprocessing.noFace?.items[0]?.file.endsWith(blank));
      assert.ok(meta.skipped.items.some((p) => p.kind === 'excluded' && p.file.endsWith(blank) && /no face found/.test(p.reason)));
      assert.match(io.out, /Aligned: 5 faces from yunet landmarks; no face found in 1 images \(1 skipped, 0 kept/);
      assert.deepEqual(ints(await readNpy(join(out, 'train_glasses.npy'))), [2, -1, -1, -1]);

      // Each training crop is byte-identical to the analyzer's: decode → YuNet → alignFace.
      const x = await readNpy(join(out, 'train_x.npy'));
      const check = await createYunetDetector({ modelPath: join(SHARED_MODELS, 'yunet_dynamic.onnx'), threads: 1 });
      try {
        for (const [i, name] of names.slice(0, 4).entries()) {
          const chip = await decodeImage(join(dir, name));
          const face = mainFace(await check.detect(chip, DEFAULT_DETECT_OPTIONS));
          assert.ok(face !== undefined, name);
          const expected = alignFace(chip, face, { width: 64, height: 64, channels: 3, crop: { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3 } }).image.data;
          assert.deepEqual((x.data as Uint8Array).subarray(i * 64 * 64 * 3, (i + 1) * 64 * 64 * 3), expected, name);
        }
      } finally {
        await check.dispose();
      }

      // --no-face fallback keeps the blank chip, aligned from the chips' median eye positions;
      // gray packs convert after alignment.
      const kept = join(tmp, 'pack-utk-fallback');
      assert.equal(await runPrepare(['--layout', 'utkface', '--root', root, '--out', kept, '--split-file', splitFile, '--no-face', 'fallback', '--channels', '1', '--eye-distance', '0.36', '--eye-y', '0.35'], capture()), 0);
      const m2 = await readMeta(kept);
      assert.deepEqual(m2.splits['test']?.count, 1);
      assert.deepEqual({ ...m2.preprocessing.noFace, items: undefined }, { count: 1, kept: 1, skipped: 0, items: undefined });
      assert.match(m2.preprocessing.noFace?.items[0]?.reason ?? '', /median eye positions/);
      assert.deepEqual(m2.preprocessing.crop, { mode: 'aligned', eyeDistance: 0.36, eyeY: 0.35, detector: 'yunet', noFace: 'fallback: median eye positions' });
      assert.deepEqual((await readNpy(join(kept, 'train_x.npy'))).shape, [4, 64, 64, 1]);
      assert.ok([...(await readNpy(join(kept, 'test_x.npy'))).data].every((v) => v === 128), 'the blank chip, aligned, is still blank');
    } finally {
      if (prev === undefined) delete process.env['FACESENSE_MODELS'];
      else process.env['FACESENSE_MODELS'] = prev;
    }
  });

  it('uses an injected crop and skips images where it finds no face', async () => {
    const root = join(tmp, 'crop');
    await writeGray(join(root, 'train', 'happy', 'Training_1.png'), 10, 100);
    await writeGray(join(root, 'train', 'happy', 'Training_2.png'), 200, 100);
    await writeRgb(join(root, 'test', 'sad', 'PrivateTest_3.png'), 80, 60, [0, 0, 0], [255, 255, 255]);
    const seen: string[] = [];
    const result = await writePack(createFer2013FoldersLoader({ root }), {
      out: join(tmp, 'pack-crop'),
      size: 8,
      crop: async ({ data, width, height, channels }) => {
        seen.push(`${width}x${height}x${channels}`);
        return (data[0] ?? 0) > 100 ? null : new Uint8Array(8 * 8).fill(width === 80 ? 1 : 2);
      },
      cropInfo: { detector: 'test' },
    });
    // A crop always receives RGB (it detects in colour); it returns the pack's channels.
    assert.deepEqual(seen.sort(), ['100x100x3', '100x100x3', '80x60x3']);
    assert.deepEqual(result.meta.preprocessing.crop, { detector: 'test', mode: 'injected' });
    assert.equal(result.meta.splits['train']?.count, 1);
    assert.equal(result.meta.skipped.items[0]?.kind, 'excluded');
    assert.match(result.meta.skipped.items[0]?.reason ?? '', /no face found in train\/happy\/Training_2\.png/);
    assert.deepEqual([...(await readNpy(join(tmp, 'pack-crop', 'test_x.npy'))).data].slice(0, 2), [1, 1]);

    await assert.rejects(
      writePack(createFer2013FoldersLoader({ root }), { out: join(tmp, 'pack-crop-bad'), size: 8, crop: async () => new Uint8Array(3), strict: true }),
      (e: unknown) => e instanceof DatasetError && /crop returned 3 bytes/.test(e.message),
    );
  });

  it('answers usage errors with exit code 2 and --help with 0', async () => {
    const help = capture();
    assert.equal(await runPrepare(['--help'], help), 0);
    assert.match(help.out, /Usage: facesense prepare --layout/);
    for (const args of [
      [],
      ['--layout', 'fer2013-folders', '--root', tmp],
      ['--layout', 'nope', '--root', tmp, '--out', tmp],
      ['--layout', 'folders', '--root', tmp, '--out', tmp, '--channels', '2'],
      ['--layout', 'folders', '--root', tmp, '--out', tmp, '--size', '0'],
      ['--layout', 'ferplus-csv', '--root', tmp, '--out', tmp],
      ['--layout', 'utkface', '--root', tmp, '--out', tmp, '--crop', 'box'],
      ['--layout', 'utkface', '--root', tmp, '--out', tmp, '--eye-distance', '1.5'],
      ['--layout', 'utkface', '--root', tmp, '--out', tmp, '--no-face', 'maybe'],
      ['--layout', 'folders', '--root', tmp, '--out', tmp, '--eye-y', '0.3'],
      ['--bogus'],
      ['positional'],
    ]) {
      const io = capture();
      assert.equal(await runPrepare(args, io), 2, `args ${args.join(' ')}: ${io.err}`);
      assert.match(io.err, /facesense prepare: /);
    }
    const missing = capture();
    assert.equal(await runPrepare(['--layout', 'fer2013-folders', '--root', join(tmp, 'absent'), '--out', join(tmp, 'o')], missing), 1);
    assert.match(missing.err, /INPUT_NOT_FOUND/);
  });

  // Real data, only where FACESENSE_DATA points at an unpacked copy of the shared datasets.
  const data = process.env['FACESENSE_DATA'];
  it('packs 500 per split of the real FER2013 folders', { skip: data === undefined ? 'FACESENSE_DATA not set' : false }, async () => {
    const out = join(tmp, 'real-fer2013');
    const io = capture();
    assert.equal(await runPrepare(['--layout', 'fer2013-folders', '--root', join(data ?? '', 'fer2013'), '--out', out, '--limit', '500'], io), 0, io.err);
    const meta = await readMeta(out);
    for (const split of ['train', 'val', 'test']) {
      assert.equal(meta.splits[split]?.count, 500);
      assert.deepEqual((await readNpy(join(out, `${split}_x.npy`))).shape, [500, 48, 48, 1]);
      const y = ints(await readNpy(join(out, `${split}_emotion.npy`)));
      assert.ok(y.length > 0, 'every() over an empty list would pass vacuously');
      assert.ok(y.every((v) => v >= 0 && v < 7));
      assert.ok(new Set(y).size >= 6, `${split}: classes mixed`);
    }
    assert.equal(meta.skipped.count, 0);
  });
});
