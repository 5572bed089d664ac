import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli } from './helpers/cli.js';
import { media, tempDir } from './helpers/media.js';


async function badInputs(dir: string) {
  const empty = join(dir, 'empty.jpg');
  const text = join(dir, 'text.jpg');
  const truncated = join(dir, 'truncated.jpg');
  await writeFile(empty, '');
  await writeFile(text, 'hello, I am not a JPEG\n');
  const full = await readFile(media('single_face.jpg'));
  await writeFile(truncated, full.subarray(0, 20000));
  const sub = join(dir, 'folder');
  await mkdir(sub);
  await symlink(join(dir, 'nowhere.jpg'), join(sub, 'dangling.jpg'));
  await writeFile(join(sub, 'ok.jpg'), full);
  return { empty, text, truncated, sub, missing: join(dir, 'missing.jpg') };
}

test('analyze: one bad file yields an error record and the batch goes on', async () => {
  const dir = await tempDir();
  const bad = await badInputs(dir);
  const { code, stdout, stderr } = await cli([
    'analyze', '--format', 'jsonl', '--pixel-limit', '4000000',
    media('multi_face.jpg'), bad.empty, media('free-mountain-vector-01.jpg'), bad.text, bad.truncated, bad.missing, bad.sub, media('BWPictureHuman.jpg'),
  ]);
  assert.equal(code, 0, stderr);
  const records = stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; ok: boolean; faces?: unknown[]; error?: { code: string; message: string } });
  const by = (s: string) => records.find((r) => r.source.endsWith(s));
  assert.equal(by('multi_face.jpg')?.faces?.length, 5);
  assert.deepEqual(by('free-mountain-vector-01.jpg')?.faces, []);
  assert.equal(by('empty.jpg')?.error?.code, 'INPUT_EMPTY');
  assert.equal(by('text.jpg')?.error?.code, 'UNSUPPORTED_FORMAT');
  assert.equal(by('truncated.jpg')?.error?.code, 'CORRUPT_IMAGE');
  assert.equal(by('missing.jpg')?.error?.code, 'INPUT_NOT_FOUND');
  assert.equal(by('dangling.jpg')?.error?.code, 'INPUT_UNREADABLE');
  assert.equal(by('ok.jpg')?.faces?.length, 1);
  assert.equal(by('BWPictureHuman.jpg')?.error?.code, 'PIXEL_LIMIT_EXCEEDED');
  for (const r of records.filter((x) => !x.ok)) assert.ok(r.error?.message.includes(r.source), `error names its file: ${r.error?.message}`);
  assert.match(stderr, /analyzed 3\/9 inputs, 6 faces, 6 errors/);
});

test('analyze: exit code 1 when every input fails, or with --strict', async () => {
  const dir = await tempDir();
  const bad = await badInputs(dir);
  assert.equal((await cli(['analyze', bad.empty, bad.text])).code, 1);
  assert.equal((await cli(['analyze', '--strict', bad.empty, media('single_face.jpg')])).code, 1);
  assert.equal((await cli(['analyze', '--format', 'yaml', media('single_face.jpg')])).code, 2);
  assert.equal((await cli(['analyze'])).code, 2);
});

test('analyze: CSV with one row per face, JSON to --out, annotated images, directories and globs', async () => {
  const dir = await tempDir();
  const csv = await cli(['analyze', '--format', 'csv', media('multi_face.jpg'), media('free-mountain-vector-01.jpg')]);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.trim().split('\n');
  assert.ok(lines[0]!.startsWith('source,status,error_code,error_message,width_px,height_px,face,x_px'));
  assert.equal(lines.length, 1 + 5 + 1);
  const out = join(dir, 'r.json');
  const ann = join(dir, 'ann');
  const json = await cli(['analyze', '--out', out, '--annotate', ann, `${media('')}/*_face.jpg`]);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(await readFile(out, 'utf8')) as { source: string; faces: { landmarksPx: Record<string, { x: number; y: number }>; boxPx: { x: number; y: number; width: number; height: number } }[] }[];
  assert.deepEqual(parsed.map((p) => p.source.split('/').pop()).sort(), ['multi_face.jpg', 'single_face.jpg']);
  for (const f of parsed.flatMap((p) => p.faces)) {
    for (const pt of Object.values(f.landmarksPx)) {
      assert.ok(pt.x >= f.boxPx.x && pt.x <= f.boxPx.x + f.boxPx.width && pt.y >= f.boxPx.y && pt.y <= f.boxPx.y + f.boxPx.height, 'landmark inside its box');
    }
  }
  // The inputs' folders are mirrored under --annotate (../shared/media → ann/shared/media).
  assert.deepEqual((await readdir(join(ann, 'shared', 'media'))).sort(), ['multi_face.annotated.jpg', 'single_face.annotated.jpg']);
});
