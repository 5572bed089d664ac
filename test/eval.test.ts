import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);

test('eval measures a model on a folders dataset, listing what it skipped', async () => {
  const root = await tempDir();
  const classes = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];
  for (const [i, c] of classes.entries()) {
    await mkdir(join(root, 'test', c), { recursive: true });
    for (let k = 0; k < 3; k++) {
      await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 30 * i + k, g: 30 * i + k, b: 30 * i + k } } }).greyscale().png().toFile(join(root, 'test', c, `${k}.png`));
    }
  }
  await writeFile(join(root, 'test', 'happy', 'broken.png'), 'not a png');
  const out = await tempDir();
  const { stdout } = await run(process.execPath, [resolve('bin/facesense.js'), 'eval', '--model', resolve('test/fixtures/tiny-emotion.onnx'), '--dataset', 'folders', '--root', root, '--split', 'test', '--out', out], {
    env: { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' },
  });
  assert.match(stdout, /accuracy/);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as { samples: number; evaluated: number; skipped: { count: number; items: { file: string; reason: string }[] }; confusion: number[][]; accuracy: number };
  assert.equal(report.samples, 22);
  assert.equal(report.evaluated, 21);
  assert.equal(report.skipped.count, 1);
  assert.ok(report.skipped.items[0]!.file.endsWith('broken.png'));
  assert.equal(report.confusion.flat().reduce((a, b) => a + b, 0), 21);
  const diag = report.confusion.reduce((a, row, i) => a + row[i]!, 0);
  assert.equal(report.accuracy, diag / 21);
});
