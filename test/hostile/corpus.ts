/**
 * The hostile corpus, built at test time into a temp folder (nothing large is committed: the
 * 1.5 GB file is sparse, devices are the system's own). Each case is one child process — the CLI,
 * or a library scenario (scenarios.ts) — judged by replay.ts: a typed error naming the input, or a
 * graceful result; never a crash, a hang, or a good input's result lost.
 */
import { execFileSync } from 'node:child_process';
import { chmod, copyFile, mkdir, readFile, symlink, truncate, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { ferPixels, writeGray } from '../fixtures/datasets.js';

export type Area = 'cli' | 'library' | 'video' | 'dataset' | 'manifest' | 'options' | 'outputs';

export interface HostileCase {
  readonly id: string;
  readonly area: Area;
  /** Arguments of `node` (a script and its arguments). */
  readonly argv: readonly string[];
  /** A command that runs `node` (e.g. setpriv to drop root); none: node itself. */
  readonly wrap?: readonly string[];
  /** Sources that must come back as successful records (lost otherwise). */
  readonly good?: readonly string[];
  /** The case must end in a typed error (exit 1/2 with a [CODE], or an error record); a quiet success is a silent failure. */
  readonly expectTyped?: boolean;
  /** Extra check on the output; returns a problem, or undefined. */
  readonly check?: (out: { stdout: string; stderr: string; code: number | null }) => string | undefined;
  readonly timeoutMs?: number;
}

export interface CorpusPaths {
  /** Repository root (where bin/ and dist/ are). */
  readonly root: string;
  /** ../shared/media */
  readonly media: string;
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A PNG header claiming width×height with a tiny (invalid) body: a decompression-bomb probe. */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const type = Buffer.from('IHDR');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, ihdr])));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(13);
  return Buffer.concat([Buffer.from(PNG_SIG), len, type, ihdr, crc, Buffer.from('IDAT junk')]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/**
 * A valid, uniformly grey 1-bit greyscale PNG of width×height, built row by row: a 17000² image
 * (289 MP, over libvips' default 268 MP limit) is about 40 KB on disk and built in well under a second.
 */
export function uniformPng(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([1, 0, 0, 0, 0], 8);
  // Filter 0 then width bits of alternating pixels: grey on average, no structure to find a face in.
  const row = Buffer.alloc(1 + Math.ceil(width / 8), 0x55);
  row[0] = 0;
  const rows = Buffer.alloc(row.length * height);
  for (let y = 0; y < height; y++) row.copy(rows, y * row.length);
  return Buffer.concat([Buffer.from(PNG_SIG), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(rows, { level: 9 })), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * The corpus's hostile inputs by name (files buildCorpus writes into its folder, or system paths).
 * Every channel — the CLI, the HTTP service, the workers (channels.ts) — replays these same lists.
 */
/** Each alone must end in a typed error. */
export const TYPED_IMAGES = ['empty.jpg', 'text.jpg', 'truncated.jpg', 'truncated-header.jpg', 'bomb.png', 'huge-dims.png', 'zero-dims.png', 'photo.heic', 'bmp.bmp', 'svg-bomb.svg', 'random.png', 'gif-junk.gif', 'sparse-1.5g.jpg', 'sparse-jpeg-600m.jpg', 'huge-289mp.png', 'fifo.jpg', 'socket.jpg', 'dir.jpg', 'missing.jpg', 'empty-dir'] as const;
/** Each between two good photos: the good ones keep their results (some of these are valid images). */
export const BATCH_IMAGES = ['empty.jpg', 'text.jpg', 'truncated.jpg', 'bomb.png', 'photo.heic', 'sparse-1.5g.jpg', 'fifo.jpg', 'socket.jpg', 'svg-external.svg', 'one-pixel.png', 'thin.png', 'utf8-name-ü 😀.jpg', '-dash.jpg'] as const;
/** Valid images among them: a result, not an error. */
export const VALID_IMAGES: ReadonlySet<string> = new Set(['one-pixel.png', 'thin.png', 'utf8-name-ü 😀.jpg', '-dash.jpg', 'svg-external.svg', 'good.jpg', 'good2.jpg']);
/** Each as a video must end in a typed error ('-x.mp4' is a valid video with a hostile name). */
export const TYPED_VIDEOS = ['concat:a.mp4|b.mp4', 'text.mp4', 'empty.mp4', 'truncated.mp4', 'fifo.mp4', 'good.jpg', 'missing.mp4'] as const;
/** Analysis options with bad values: each a usage error naming the option. */
export const BAD_OPTIONS: readonly (readonly [string, string])[] = [
  ['--score-threshold', '-1'], ['--score-threshold', '2'], ['--score-threshold', 'NaN'], ['--score-threshold', ''],
  ['--max-faces', '-1'], ['--max-faces', '1.5'], ['--max-faces', '0'], ['--min-face', '-5'], ['--min-face', 'Infinity'],
  ['--threads', '100000'], ['--threads', '1.5'], ['--threads', '-1'], ['--threads', '0x10'],
  ['--refine', '1e9'], ['--refine', '-1'], ['--pixel-limit', '0'], ['--pixel-limit', '1e12'], ['--pixel-limit', 'abc'],
  ['--concurrency', '0'], ['--concurrency', '1e6'], ['--format', 'xml'], ['--detector', 'haar'], ['--tasks', 'telepathy'],
];
/** Video sampling options with bad values. */
export const BAD_VIDEO_OPTIONS: readonly (readonly [string, string])[] = [['--fps', '1e9'], ['--fps', '0'], ['--fps', '-2'], ['--every', '0'], ['--every', '2.5'], ['--threads', '100000']];

export async function buildCorpus(dir: string, paths: CorpusPaths): Promise<HostileCase[]> {
  const cli = join(paths.root, 'bin', 'facesense.js');
  const scenarios = join(paths.root, 'dist', 'test', 'hostile', 'scenarios.js');
  const f = (name: string) => join(dir, name);
  await mkdir(dir, { recursive: true });
  const good = f('good.jpg');
  const good2 = f('good2.jpg');
  await copyFile(join(paths.media, 'single_face.jpg'), good);
  await copyFile(join(paths.media, 'multi_face.jpg'), good2);
  const jpeg = await readFile(good);

  // Image files.
  await writeFile(f('empty.jpg'), '');
  await writeFile(f('text.jpg'), 'this is not an image\n');
  await writeFile(f('truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
  await writeFile(f('truncated-header.jpg'), jpeg.subarray(0, 40));
  await writeFile(f('bomb.png'), pngHeader(60000, 60000));
  await writeFile(f('huge-dims.png'), pngHeader(2 ** 31 - 1, 2 ** 31 - 1));
  await writeFile(f('zero-dims.png'), pngHeader(0, 0));
  const heic = Buffer.alloc(64);
  heic.writeUInt32BE(24, 0);
  heic.write('ftypheic', 4, 'latin1');
  heic.write('mif1heic', 16, 'latin1');
  await writeFile(f('photo.heic'), heic);
  await writeFile(f('bmp.bmp'), Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]));
  await writeFile(f('svg-external.svg'), '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="file:///etc/passwd" width="64" height="64"/></svg>');
  await writeFile(f('svg-bomb.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="100%" height="100%"/></svg>');
  await writeFile(f('random.png'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)));
  await writeFile(f('utf8-name-ü 😀.jpg'), jpeg);
  await writeFile(f('-dash.jpg'), jpeg);
  await writeFile(f('gif-junk.gif'), Buffer.concat([Buffer.from('GIF89a'), Buffer.alloc(100, 0xff)]));
  await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toFile(f('one-pixel.png'));
  await sharp({ create: { width: 20000, height: 2, channels: 3, background: '#808080' } }).png().toFile(f('thin.png'));
  await writeFile(f('huge-289mp.png'), uniformPng(17000, 17000));
  // Sparse files: a 1.5 GB file of zeros, and a "JPEG" over the input size limit.
  await writeFile(f('sparse-1.5g.jpg'), '');
  await truncate(f('sparse-1.5g.jpg'), 1.5 * 2 ** 30);
  await writeFile(f('sparse-jpeg-600m.jpg'), jpeg.subarray(0, 64));
  await truncate(f('sparse-jpeg-600m.jpg'), 600 * 2 ** 20);
  // Special files.
  execFileSync('mkfifo', [f('fifo.jpg')]);
  execFileSync('/usr/bin/python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', f('socket.jpg')]);
  // Directories and links.
  await mkdir(f('empty-dir'));
  await mkdir(f('loop/sub'), { recursive: true });
  await copyFile(good, f('loop/sub/face.jpg'));
  await symlink('..', f('loop/sub/up'));
  await symlink(resolve(f('loop')), f('loop/self'));
  await mkdir(f('eloop'));
  await copyFile(good, f('eloop/face.jpg'));
  await symlink('b.jpg', f('eloop/a.jpg'));
  await symlink('a.jpg', f('eloop/b.jpg'));
  await symlink('missing.jpg', f('eloop/dangling.jpg'));
  await mkdir(f('mixed'));
  await copyFile(good, f('mixed/a-good.jpg'));
  await symlink('/dev/zero', f('mixed/b-zero.jpg'));
  await symlink('/dev/urandom', f('mixed/c-urandom.jpg'));
  execFileSync('mkfifo', [f('mixed/d-fifo.jpg')]);
  await copyFile(good, f('mixed/e-good.jpg'));
  await writeFile(f('mixed/f-text.jpg'), 'nope');
  await copyFile(good, f('mixed/g-good.jpg'));
  await mkdir(f('dir.jpg'));

  // Videos.
  await copyFile(join(paths.media, 'single_face.mp4'), f('-x.mp4'));
  await writeFile(f('concat:a.mp4|b.mp4'), 'file a.mp4\n');
  await writeFile(f('text.mp4'), 'not a video\n');
  await writeFile(f('empty.mp4'), '');
  const mp4 = await readFile(join(paths.media, 'single_face.mp4'));
  await writeFile(f('truncated.mp4'), mp4.subarray(0, Math.floor(mp4.length / 3)));
  execFileSync('mkfifo', [f('fifo.mp4')]);
  await writeFile(f('an-output-file'), 'x');

  // Manifests: the tiny fixture model, broken in one way each.
  const model = join(paths.root, 'test', 'fixtures', 'tiny-emotion.onnx');
  const manifest = JSON.parse(await readFile(join(paths.root, 'test', 'fixtures', 'tiny-emotion.json'), 'utf8')) as Record<string, unknown> & { input: Record<string, unknown>; outputs: Record<string, unknown>[] };
  const manifests: Record<string, (m: typeof manifest) => unknown> = {
    'wrong-size': (m) => ({ ...m, input: { ...m.input, width: 64, height: 64 } }),
    'wrong-input-name': (m) => ({ ...m, input: { ...m.input, name: 'pixels' } }),
    'wrong-channels': (m) => ({ ...m, input: { ...m.input, channels: 3 } }),
    'wrong-output-name': (m) => ({ ...m, outputs: [{ ...m.outputs[0], name: 'logits' }] }),
    'too-few-labels': (m) => ({ ...m, outputs: [{ ...m.outputs[0], labels: ['a', 'b'] }] }),
    'too-many-labels': (m) => ({ ...m, outputs: [{ ...m.outputs[0], labels: Array.from({ length: 12 }, (_, i) => `l${i}`) }] }),
    'std-zero': (m) => ({ ...m, input: { ...m.input, normalisation: { kind: 'meanstd', scale: 1, mean: [0], std: [0] } } }),
    'no-labels': (m) => ({ ...m, outputs: [{ ...m.outputs[0], labels: [] }] }),
    'nhwc-layout': (m) => ({ ...m, input: { ...m.input, layout: 'NHWC' } }),
    'array': () => [],
    'nan-size': (m) => ({ ...m, input: { ...m.input, width: 'NaN' } }),
  };
  await mkdir(f('models'));
  for (const [name, make] of Object.entries(manifests)) {
    await copyFile(model, f(`models/${name}.onnx`));
    const m = make(manifest) as Record<string, unknown>;
    await writeFile(f(`models/${name}.json`), JSON.stringify(Array.isArray(m) ? m : { ...m, id: name, file: `${name}.onnx`, sha256: undefined }));
  }
  await writeFile(f('models/not-json.json'), '{ "id": "not-json", ');
  await writeFile(f('models/garbage-onnx.onnx'), 'not a protobuf');
  await writeFile(f('models/garbage-onnx.json'), JSON.stringify({ ...manifest, id: 'garbage-onnx', file: 'garbage-onnx.onnx', sha256: undefined }));

  // Datasets.
  await writeFile(f('fer-empty.csv'), '');
  await writeFile(f('fer-header-only.csv'), 'emotion,pixels,Usage\n');
  // 600 MB of one line (sparse: NUL characters, no newline): refused at the line limit, not read whole.
  await writeFile(f('fer-one-line.csv'), 'emotion,pixels,Usage');
  await truncate(f('fer-one-line.csv'), 600 * 2 ** 20);
  await writeFile(f('fer-binary.csv'), Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 31) % 256)));
  await writeFile(f('fer-one-good.csv'), `emotion,pixels,Usage\n0,${ferPixels(10)},Training\n9,${ferPixels(10)},Training\n"unterminated,${ferPixels(10)}\n`);
  await mkdir(f('fer-folders-links/train/angry'), { recursive: true });
  await writeGray(f('fer-folders-links/train/angry/Training_1.png'), 10);
  await writeGray(f('real-image.png'), 20);
  await symlink(f('real-image.png'), f('fer-folders-links/train/angry/Training_2.png'));
  await symlink('nowhere.png', f('fer-folders-links/train/angry/Training_3.png'));

  const analyze = (...args: string[]) => [cli, 'analyze', '--format', 'jsonl', '--tasks', 'emotion', ...args];
  const cases: HostileCase[] = [];
  const add = (c: HostileCase) => cases.push(c);

  // Single hostile files through the CLI: each must be a typed error record.
  for (const name of TYPED_IMAGES) {
    add({ id: `cli-file:${name}`, area: 'cli', argv: analyze(f(name)), expectTyped: true });
  }
  for (const dev of ['/dev/zero', '/dev/urandom', '/dev/null', '/dev/stdin']) add({ id: `cli-device:${dev}`, area: 'cli', argv: analyze(dev), expectTyped: true });
  // Mixed batches: every good input keeps its result.
  for (const name of BATCH_IMAGES) {
    add({ id: `cli-batch:${name}`, area: 'cli', argv: analyze(good, f(name), good2), good: [good, good2] });
  }
  add({ id: 'cli-batch:devices', area: 'cli', argv: analyze(good, '/dev/zero', '/dev/urandom', good2), good: [good, good2] });
  add({ id: 'cli-batch:mixed-dir', area: 'cli', argv: analyze(f('mixed')), good: ['a-good.jpg', 'e-good.jpg', 'g-good.jpg'].map((n) => f(`mixed/${n}`)), check: orderCheck(['a-good', 'b-zero', 'c-urandom', 'd-fifo', 'e-good', 'f-text', 'g-good']) });
  add({ id: 'cli-batch:symlink-loop', area: 'cli', argv: analyze(f('loop')), good: [f('loop/sub/face.jpg')], check: countCheck(1) });
  add({ id: 'cli-batch:eloop', area: 'cli', argv: analyze(f('eloop')), good: [f('eloop/face.jpg')], check: (o) => (/symbolic link loop/.test(o.stdout) ? undefined : 'ELOOP links not named as a link loop') });
  add({ id: 'cli-batch:empty-dir', area: 'cli', argv: analyze(good, f('empty-dir')), good: [good], check: (o) => (o.stdout.includes('INPUT_EMPTY') ? undefined : 'no record for the empty directory') });
  add({ id: 'cli-batch:glob-nomatch', area: 'cli', argv: analyze(good, f('*.nomatch')), good: [good] });
  add({ id: 'cli-batch:concurrency-8', area: 'cli', argv: analyze('--concurrency', '8', good, f('fifo.jpg'), f('text.jpg'), good2, '/dev/zero', good), good: [good, good2] });
  add({ id: 'cli-batch:pixel-limit-300mp', area: 'cli', argv: analyze('--pixel-limit', '300000000', good, f('bomb.png'), good2), good: [good, good2] });
  // Over libvips' own 268 MP limit, allowed by --pixel-limit: a result or a typed error, never sharp's untyped throw.
  add({ id: 'cli-batch:289mp-allowed', area: 'cli', argv: analyze('--pixel-limit', '300000000', good, f('huge-289mp.png'), good2), good: [good, good2], check: (o) => (o.stdout.split('\n').some((l) => l.includes('huge-289mp.png') && l.includes('"ok":true')) ? undefined : 'no result for the 289 MP image (allowed by --pixel-limit)'), timeoutMs: 180_000 });
  add({ id: 'cli-batch:annotate', area: 'cli', argv: analyze('--annotate', f('annotated'), good, f('truncated.jpg'), good2), good: [good, good2] });
  add({ id: 'cli-batch:refine', area: 'cli', argv: analyze('--refine', '2', good2, f('text.jpg')), good: [good2] });

  // Options: each bad value is a usage error naming the option.
  for (const [opt, value] of BAD_OPTIONS) add({ id: `options:${opt}=${value}`, area: 'options', argv: analyze(`${opt}=${value}`, good), expectTyped: true, check: usageCheck(opt) });
  add({ id: 'options:--out-missing-dir', area: 'options', argv: analyze('--out', f('nope/out.jsonl'), good), expectTyped: true, check: usageCheck('--out') });
  add({ id: 'options:--out-is-dir', area: 'options', argv: analyze('--out', f('empty-dir'), good), expectTyped: true, check: usageCheck('--out') });
  add({ id: 'options:--annotate-is-file', area: 'options', argv: analyze('--annotate', f('an-output-file'), good), expectTyped: true, check: usageCheck('--annotate') });
  add({ id: 'options:unknown', area: 'options', argv: analyze('--frobnicate', good), expectTyped: true });

  // Video.
  const video = (...args: string[]) => [cli, 'video', '--tasks', 'emotion', '--fps', '2', ...args];
  add({ id: 'video:-x.mp4', area: 'video', argv: video(f('-x.mp4')), check: (o) => (o.code === 0 && o.stdout.split('\n').length > 2 ? undefined : 'no rows for -x.mp4') });
  for (const name of TYPED_VIDEOS) add({ id: `video:${name}`, area: 'video', argv: video(f(name)), expectTyped: true });
  add({ id: 'video:/dev/zero', area: 'video', argv: video('/dev/zero'), expectTyped: true });
  for (const opt of ['--out', '--summary', '--timeline', '--annotate']) {
    add({ id: `video:${opt}-missing-dir`, area: 'video', argv: video(opt, f(`nope/x${opt === '--annotate' ? '.mp4' : '.out'}`), f('-x.mp4')), expectTyped: true, check: usageCheck(opt) });
  }
  for (const [opt, value] of BAD_VIDEO_OPTIONS) {
    add({ id: `video:${opt}=${value}`, area: 'options', argv: [cli, 'video', `${opt}=${value}`, f('-x.mp4')], expectTyped: true, check: usageCheck(opt) });
  }

  // Output locations nobody may write, each refused before any work with a usage error naming the option and the path.
  // Root writes through chmod, so as root the CLI runs as nobody (setpriv, util-linux); /sys/kernel refuses even root.
  await chmod(dir, 0o755); // nobody reads the inputs
  await mkdir(f('readonly-dir'));
  await chmod(f('readonly-dir'), 0o555);
  const denied = deniedRunner(cli, f('readonly-dir'));
  const targets = [...(denied === undefined ? [] : [{ ...denied, dir: f('readonly-dir') }]), { name: 'sysfs', dir: '/sys/kernel', wrap: [] as string[] }];
  for (const t of targets) {
    const out = (opt: string, path: string, argv: string[]) => add({ id: `outputs:${t.name}:${argv[1]} ${opt} ${basename(path)}`, area: 'outputs', argv, wrap: t.wrap, expectTyped: true, check: beforeWork(opt, path) });
    out('--annotate', t.dir, analyze('--annotate', t.dir, good));
    out('--out', join(t.dir, 'out.jsonl'), analyze('--out', join(t.dir, 'out.jsonl'), good));
    for (const [opt, file] of [['--out', 'rows.jsonl'], ['--summary', 'summary.json'], ['--timeline', 'timeline.html'], ['--annotate', 'annotated.mp4']] as const) out(opt, join(t.dir, file), video(opt, join(t.dir, file), f('-x.mp4')));
    out('--out', t.dir, [cli, 'batch', 'run', good, good2, '--out', t.dir, '--tasks', 'emotion']);
    out('--out', join(t.dir, 'new-batch'), [cli, 'batch', 'run', good, good2, '--out', join(t.dir, 'new-batch'), '--tasks', 'emotion']);
  }

  // Manifests: MODEL_INVALID before any image is read.
  for (const name of [...Object.keys(manifests), 'not-json', 'garbage-onnx']) {
    add({ id: `manifest:${name}`, area: 'manifest', argv: [cli, 'analyze', '--format', 'jsonl', '--detector', 'none', '--tasks', 'emotion', '--model', f(`models/${name}.json`), good], expectTyped: true, check: (o) => (/MODEL_INVALID|MODEL_NOT_FOUND/.test(o.stderr) ? undefined : 'not reported as an invalid model') });
  }

  // Datasets: prepare / eval with malformed data.
  const prepare = (...args: string[]) => [cli, 'prepare', ...args];
  add({ id: 'dataset:fer-empty.csv', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fer-empty.csv'), '--out', f('packs/empty')), expectTyped: true });
  add({ id: 'dataset:fer-header-only.csv', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fer-header-only.csv'), '--out', f('packs/header')), expectTyped: true });
  add({ id: 'dataset:fer-binary.csv', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fer-binary.csv'), '--out', f('packs/binary')), expectTyped: true });
  add({ id: 'dataset:fer-one-line-600m.csv', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fer-one-line.csv'), '--out', f('packs/oneline')), expectTyped: true });
  add({ id: 'dataset:fer-one-good.csv', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fer-one-good.csv'), '--out', f('packs/one')) });
  add({ id: 'dataset:fer-csv-is-fifo', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fifo.jpg'), '--out', f('packs/fifo')), expectTyped: true });
  add({ id: 'dataset:fer-csv-is-dev-zero', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', '/dev/zero', '--out', f('packs/zero')), expectTyped: true });
  add({ id: 'dataset:out-is-a-file', area: 'dataset', argv: prepare('--layout', 'fer2013-csv', '--root', f('fer-one-good.csv'), '--out', f('an-output-file')), expectTyped: true });
  add({ id: 'dataset:symlinked-images', area: 'dataset', argv: prepare('--layout', 'fer2013-folders', '--root', f('fer-folders-links'), '--out', f('packs/links')), check: (o) => (/Training_3/.test(o.stdout + o.stderr) ? undefined : 'the dangling link is not listed as skipped') });
  add({ id: 'dataset:eval-empty-csv', area: 'dataset', argv: [cli, 'eval', '--model', join(paths.root, 'test', 'fixtures', 'tiny-emotion.json'), '--dataset', 'fer2013-csv', '--root', f('fer-empty.csv'), '--split', 'all', '--out', f('eval-empty')], expectTyped: true });
  add({ id: 'dataset:eval-out-is-file', area: 'dataset', argv: [cli, 'eval', '--model', join(paths.root, 'test', 'fixtures', 'tiny-emotion.json'), '--dataset', 'fer2013-csv', '--root', f('fer-one-good.csv'), '--split', 'all', '--out', f('an-output-file')], expectTyped: true });

  // Library scenarios (scenarios.ts), each in its own process.
  for (const name of SCENARIOS) add({ id: `library:${name}`, area: 'library', argv: [scenarios, name, dir], good: GOOD_SCENARIOS.has(name) ? ['<good>'] : [], expectTyped: !GOOD_SCENARIOS.has(name) });
  return cases;
}

/**
 * How to run the CLI so that `dir` (mode 555) cannot be written: directly when not root; as root
 * (which writes through file modes) as nobody with setpriv when nobody can run the CLI from here,
 * else inside a private mount namespace where `dir` is bind-mounted read-only. None: only the
 * /sys/kernel target runs (it refuses root too).
 */
function deniedRunner(cli: string, dir: string): { name: string; wrap: string[] } | undefined {
  if (process.getuid?.() !== 0) return { name: 'denied', wrap: [] };
  const works = (wrap: string[]) => {
    try {
      execFileSync(wrap[0]!, [...wrap.slice(1), process.execPath, cli, 'models'], { stdio: 'ignore', timeout: 60_000 });
      return true;
    } catch {
      return false;
    }
  };
  const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
  if (works(nobody)) return { name: 'denied-as-nobody', wrap: nobody };
  const readOnly = ['unshare', '-m', 'sh', '-c', 'mount --bind -o ro "$0" "$0" && exec "$@"', dir];
  if (works(readOnly)) return { name: 'read-only-mount', wrap: readOnly };
  return undefined;
}

/** Library scenarios (implemented in scenarios.ts). */
export const SCENARIOS = [
  'analyze-null', 'analyze-undefined', 'analyze-number', 'analyze-empty-string', 'analyze-data-null', 'analyze-data-string', 'analyze-object',
  'analyze-nan-size', 'analyze-bad-options', 'analyzer-bad-threads', 'analyzer-bad-pixel-limit', 'analyzer-bad-detect',
  'batch-dispose-during', 'batch-break', 'batch-throwing-iterable', 'batch-abort', 'batch-bad-inputs', 'many-not-iterable',
  'dispose-during-analyze', 'abort-analyze', 'crops-one-bad', 'analyze-after-dispose', 'double-dispose',
] as const;

/** Scenarios in which the good photo's result must come back (the rest must end in typed errors). */
const GOOD_SCENARIOS: ReadonlySet<string> = new Set(['batch-dispose-during', 'batch-break', 'batch-throwing-iterable', 'batch-abort', 'batch-bad-inputs', 'dispose-during-analyze', 'crops-one-bad', 'double-dispose']);

/** Records must come out in the order of the listed names. */
function orderCheck(names: readonly string[]) {
  return (o: { stdout: string }): string | undefined => {
    const order = o.stdout.split('\n').filter(Boolean).map((l) => names.findIndex((n) => l.includes(n)));
    const sorted = [...order].sort((a, b) => a - b);
    return order.join() === sorted.join() && order.length === names.length ? undefined : `records out of input order or missing: ${order.join(',')}`;
  };
}

/** Exactly `n` successful records (a link loop must not repeat a photo). */
function countCheck(n: number) {
  return (o: { stdout: string }): string | undefined => {
    const ok = o.stdout.split('\n').filter((l) => l.includes('"ok":true')).length;
    return ok === n ? undefined : `${ok} results, expected ${n}`;
  };
}

/** A usage error naming the option and the path, and no analysis done (no record, no summary). */
function beforeWork(option: string, path: string) {
  const usage = usageCheck(option);
  return (o: { stdout: string; stderr: string; code: number | null }): string | undefined =>
    usage(o) ?? (o.stderr.includes(path) ? undefined : `the error does not name ${path}`) ?? (/"ok":|analyzed \d|frames/.test(o.stdout + o.stderr) ? 'work was done before the refusal' : undefined);
}

/** A usage error (exit 2) naming the option. */
function usageCheck(option: string) {
  return (o: { stderr: string; code: number | null }): string | undefined => (o.code === 2 && o.stderr.includes(option.replace(/^--/, '')) ? undefined : `not a usage error naming ${option} (exit ${o.code})`);
}
