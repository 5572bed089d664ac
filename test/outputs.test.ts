import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { annotatedPath } from '../src/jobs/batch.js';
import { videoContainer } from '../src/core/media-sniff.js';
import { writeFer2013Folders } from './fixtures/datasets.js';
import { media, SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);
const BIN = join(process.cwd(), 'bin', 'facesense.js');
const env = { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' };

async function cli(args: string[], cwd = process.cwd()): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], { env, cwd, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('analyze outputs', () => {
  it('--format table: a header line per image and one aligned line per face with every task', async () => {
    const { code, stdout } = await cli(['analyze', '--format', 'table', media('multi_face.jpg'), media('free-mountain-vector-01.jpg')]);
    assert.equal(code, 0);
    const lines = stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /multi_face\.jpg {2}1000×667 {2}5 faces$/);
    assert.match(lines[1]!, /^ {2}# +box x,y w×h +score +reliable +emotion +age +gender +ethnicity +glasses +beard +moustache +pose$/);
    const faces = lines.slice(2, 7);
    assert.equal(faces.length, 5);
    assert.equal(faces.filter((l) => /sunglasses \d+%/.test(l)).length, 1);
    const col = lines[1]!.indexOf('emotion');
    for (const l of faces) assert.match(l.slice(col), /^happiness \d+%/, 'columns align under their header');
    assert.match(lines[7]!, /free-mountain-vector-01\.jpg {2}1920×1080 {2}no faces/);
  });

  it('piped without --format: JSON, with floats rounded (no more than 6 decimals anywhere)', async () => {
    const { code, stdout } = await cli(['analyze', media('single_face.jpg')]);
    assert.equal(code, 0);
    const [item] = JSON.parse(stdout) as { faces: { boxPx: { x: number }; attributes: { emotion: { score: number } } }[] }[];
    assert.ok(item !== undefined && item.faces.length === 1);
    const decimals = [...stdout.matchAll(/-?\d+\.(\d+)/g)].map((m) => m[1]!.length);
    assert.ok(decimals.length > 50);
    assert.ok(Math.max(...decimals) <= 6, `longest fraction ${Math.max(...decimals)} digits`);
    const x = item.faces[0]!.boxPx.x;
    assert.equal(Math.round(x * 10) / 10, x, 'pixels to 0.1');
  });

  it('CSV is compact by default (no age bin columns); --age-bins adds the 101 one-year columns', async () => {
    const compact = (await cli(['analyze', '--format', 'csv', media('single_face.jpg')])).stdout.split('\n')[0]!.split(',');
    const full = (await cli(['analyze', '--format', 'csv', '--age-bins', media('single_face.jpg')])).stdout.split('\n')[0]!.split(',');
    assert.ok(compact.includes('age_value') && compact.includes('emotion_happiness') && compact.includes('glasses_sunglasses'));
    assert.equal(compact.filter((c) => /^age_\d+$/.test(c)).length, 0);
    assert.equal(full.filter((c) => /^age_\d+$/.test(c)).length, 101);
    assert.equal(full.length - compact.length, 101);
  });

  it('--annotate mirrors the input folders: a/x.jpg and b/x.jpg no longer overwrite each other', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, 'b'));
    await copyFile(media('single_face.jpg'), join(dir, 'a', 'x.jpg'));
    await copyFile(media('multi_face.jpg'), join(dir, 'b', 'x.jpg'));
    const { code, stderr } = await cli(['analyze', '--format', 'jsonl', '--annotate', 'out', 'a', 'b'], dir);
    assert.equal(code, 0, stderr);
    const a = await sharp(join(dir, 'out', 'a', 'x.annotated.jpg')).metadata();
    const b = await sharp(join(dir, 'out', 'b', 'x.annotated.jpg')).metadata();
    assert.deepEqual([a.width, b.width], [572, 1000]);
    assert.equal(annotatedPath('/o', '../../p/q/r.PNG', '/w/x/y'), '/o/p/q/r.annotated.png');
    assert.equal(annotatedPath('/o', '/w/x/y/s.tiff', '/w/x/y'), '/o/s.annotated.jpg');
  });

  it('reliable and its reasons in every output: CSV columns, table column, JSON quality', async () => {
    const csv = (await cli(['analyze', '--format', 'csv', media('multi_face.jpg')])).stdout.trim().split('\n');
    const head = csv[0]!.split(',');
    const at = head.indexOf('reliable');
    assert.ok(at > 0 && head[at + 1] === 'unreliable_reasons');
    assert.equal(csv.length, 6);
    for (const row of csv.slice(1)) assert.match(row.split(',')[at]!, /^[01]$/);
    const table = (await cli(['analyze', '--format', 'table', media('multi_face.jpg')])).stdout;
    assert.match(table.split('\n')[1]!, /score +reliable +emotion/);
    const [item] = JSON.parse((await cli(['analyze', media('multi_face.jpg')])).stdout) as { faces: { quality: { reliable: boolean; reasons: string[]; sharpness: number } }[] }[];
    assert.equal(item?.faces.length, 5);
    for (const f of item?.faces ?? []) assert.ok(typeof f.quality.reliable === 'boolean' && Array.isArray(f.quality.reasons) && f.quality.sharpness > 0);
  });

  it('analyze on a video names the command for videos', async () => {
    const { code, stdout } = await cli(['analyze', '--format', 'jsonl', media('single_face.mp4')]);
    assert.equal(code, 1);
    const rec = JSON.parse(stdout) as { error: { code: string; message: string } };
    assert.equal(rec.error.code, 'UNSUPPORTED_FORMAT');
    assert.match(rec.error.message, /is a video \(MP4\/MOV\).*facesense video .*single_face\.mp4/);
  });

  it('videoContainer tells videos from images (AVIF shares the ftyp box)', () => {
    const box = (brand: string) => new Uint8Array([0, 0, 0, 0x20, ...Buffer.from(`ftyp${brand}`)]);
    assert.equal(videoContainer(box('isom')), 'MP4/MOV');
    assert.equal(videoContainer(box('qt  ')), 'MP4/MOV');
    assert.equal(videoContainer(box('avif')), undefined);
    assert.equal(videoContainer(new Uint8Array([0x1a, 0x45, 0xdf, 0xa3])), 'Matroska/WebM');
    assert.equal(videoContainer(new Uint8Array([0xff, 0xd8, 0xff, 0xe0])), undefined);
  });
});

describe('errors that point to the fix', () => {
  it('video --format json writes one JSON array of per-frame rows', async () => {
    const { code, stdout, stderr } = await cli(['video', media('single_face.mp4'), '--end', '1', '--every', '10', '--format', 'json']);
    assert.equal(code, 0, stderr);
    const rows = JSON.parse(stdout) as { frame: number; track: number }[];
    assert.ok(Array.isArray(rows) && rows.length >= 2);
    assert.ok(rows.every((r) => Number.isInteger(r.frame) && r.track >= 1));
  });

  it('eval --split with a name the dataset lacks lists the splits it has', async () => {
    const root = await tempDir();
    await writeFer2013Folders(root);
    const { code, stderr } = await cli(['eval', '--model', join('test', 'fixtures', 'tiny-emotion.onnx'), '--dataset', 'fer2013-folders', '--root', root, '--split', 'PrivateTest', '--detector', 'none']);
    assert.equal(code, 2);
    assert.match(stderr, /has no split "PrivateTest"; its splits are: test, train/);
  });

  it('train outside a source checkout says what it needs', async () => {
    const dir = await tempDir();
    const { code, stderr } = await cli(['train', '--config', 'x.json'], dir);
    assert.equal(code, 2);
    assert.match(stderr, /training\/ of a facesense source checkout.*python3-torch/);
  });
});
