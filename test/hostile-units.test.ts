/**
 * The hostile-input guards one by one (the corpus in hostile.test.ts replays them end to end):
 * bounded regular-file reads, format sniffing, the directory walker's loop detection, option
 * validation, the manifest-vs-graph check, the lifecycle, and output-location checks.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { expandInputs, type InputEntry } from '../src/cli/inputs.js';
import { FacesenseError, ImageDecodeError, ModelError, OptionError } from '../src/core/errors.js';
import { checkOutputDir, checkOutputFile, checkOutputTarget } from '../src/io/outputs.js';
import { readRegularFile } from '../src/io/safe-read.js';
import { sniffImageFormat } from '../src/io/sniff.js';
import { createLifecycle } from '../src/core/lifecycle.js';
import { checkManifestAgainstGraph } from '../src/core/models/graph-check.js';
import { validateManifest, type ModelManifest } from '../src/core/models/manifest.js';
import { nodeBackend } from '../src/node/onnx.js';
import { checkAnalyzerOptions, checkImageInput, parseNumberOption, RULES } from '../src/core/validate.js';
import { frameCap } from '../src/node/video/decode.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'facesense-hostile-units-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    assert.ok(e instanceof FacesenseError, `untyped: ${String(e)}`);
    return e.code;
  }
}

test('readRegularFile refuses devices, FIFOs and sockets without blocking, and huge files without reading them', async () => {
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  execFileSync('/usr/bin/python3', ['-c', 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])', join(dir, 'sock')]);
  assert.equal(await code(readRegularFile(join(dir, 'fifo'))), 'INPUT_UNREADABLE');
  assert.equal(await code(readRegularFile(join(dir, 'sock'))), 'INPUT_UNREADABLE');
  assert.equal(await code(readRegularFile('/dev/zero')), 'INPUT_UNREADABLE');
  assert.equal(await code(readRegularFile(dir)), 'INPUT_UNREADABLE');
  assert.equal(await code(readRegularFile(join(dir, 'missing'))), 'INPUT_NOT_FOUND');
  await writeFile(join(dir, 'sparse'), '');
  await truncate(join(dir, 'sparse'), 100 * 2 ** 20);
  const rss0 = process.memoryUsage.rss();
  // Unknown header over 16 MiB: refused after 4 KiB; over maxBytes: refused before any read.
  assert.equal(await code(readRegularFile(join(dir, 'sparse'), { checkHeader: (h) => sniffImageFormat(h) !== undefined })), 'UNSUPPORTED_FORMAT');
  assert.equal(await code(readRegularFile(join(dir, 'sparse'), { maxBytes: 2 ** 20 })), 'INPUT_TOO_LARGE');
  assert.ok(process.memoryUsage.rss() - rss0 < 50 * 2 ** 20, 'the sparse file was not read whole');
  await writeFile(join(dir, 'small'), 'abc');
  assert.deepEqual([...(await readRegularFile(join(dir, 'small')))], [97, 98, 99]);
});

test('sniffImageFormat tells formats by their magic numbers, HEIC from AVIF', () => {
  const ftyp = (major: string, ...compat: string[]) => {
    const b = Buffer.alloc(16 + 4 * compat.length);
    b.writeUInt32BE(b.length, 0);
    b.write(`ftyp${major}`, 4, 'latin1');
    compat.forEach((c, i) => b.write(c, 16 + 4 * i, 'latin1'));
    return b;
  };
  assert.equal(sniffImageFormat(ftyp('heic', 'mif1', 'heic')), 'heic');
  assert.equal(sniffImageFormat(ftyp('mif1', 'mif1', 'heic')), 'heic');
  assert.equal(sniffImageFormat(ftyp('avif', 'mif1', 'avif')), 'avif');
  assert.equal(sniffImageFormat(ftyp('isom', 'mp41')), undefined);
  assert.equal(sniffImageFormat(Buffer.from([0xff, 0xd8, 0xff, 0xe0])), 'jpeg');
  assert.equal(sniffImageFormat(Buffer.from('GIF89a')), 'gif');
  assert.equal(sniffImageFormat(Buffer.from('<?xml version="1.0"?><svg>')), 'svg');
  assert.equal(sniffImageFormat(Buffer.from('hello')), undefined);
  assert.equal(sniffImageFormat(new Uint8Array(0)), undefined);
});

test('the walker enters each directory once: a link loop ends, named; ELOOP is not "dangling"; an empty directory is a record', async () => {
  const root = join(dir, 'walk');
  await mkdir(join(root, 'a/b'), { recursive: true });
  await writeFile(join(root, 'a/b/x.jpg'), 'x');
  await symlink('..', join(root, 'a/b/up'));
  await symlink(root, join(root, 'a/root'));
  await symlink('l2.jpg', join(root, 'a/l1.jpg'));
  await symlink('l1.jpg', join(root, 'a/l2.jpg'));
  await mkdir(join(dir, 'empty'));
  const entries: InputEntry[] = [];
  for await (const e of expandInputs([root, join(dir, 'empty')])) entries.push(e);
  const files = entries.filter((e) => !('error' in e)).map((e) => e.path);
  assert.deepEqual(files, [join(root, 'a/b/x.jpg')]);
  const errors = entries.flatMap((e) => ('error' in e ? [[e.path, e.error.code, e.error.message] as const] : []));
  assert.ok(errors.some(([p, , m]) => p === join(root, 'a/l1.jpg') && /link loop \(ELOOP\)/.test(m)));
  assert.ok(errors.some(([p, , m]) => p === join(root, 'a/b/up') && /already walked/.test(m)));
  assert.ok(errors.some(([p, c]) => p === join(dir, 'empty') && c === 'INPUT_EMPTY'));
});

test('options are checked for type, range and integer-ness, naming the option', () => {
  for (const [name, text, rule] of [
    ['score-threshold', '-1', RULES.scoreThreshold], ['score-threshold', '2', RULES.scoreThreshold], ['max-faces', '-1', RULES.maxFaces], ['threads', '1.5', RULES.threads],
    ['threads', '100000', RULES.threads], ['refine', '1e9', RULES.refineLandmarks], ['pixel-limit', '0x10', RULES.pixelLimit], ['pixel-limit', '', RULES.pixelLimit], ['min-face', 'Infinity', RULES.minFacePx],
  ] as const) {
    assert.throws(() => parseNumberOption(name, text, rule), (e: unknown) => e instanceof OptionError && e.message.includes(`--${name}`), `${name}=${text}`);
  }
  assert.equal(parseNumberOption('score-threshold', '0.5', RULES.scoreThreshold), 0.5);
  assert.equal(parseNumberOption('threads', '4', RULES.threads), 4);
  for (const o of [{ threads: 1.5 }, { threads: -1 }, { pixelLimit: 0 }, { refineLandmarks: 1e9 }, { detect: { scoreThreshold: Number.NaN } }, { detect: { maxFaces: -1 } }, { detect: { scaleToMinFace: 'yes' } }, { tta: 'yes' }, { tasks: 'emotion' }]) {
    assert.throws(() => checkAnalyzerOptions(o), OptionError, JSON.stringify(o));
  }
  checkAnalyzerOptions({ detect: { minFacePx: 40, scaleToMinFace: true } });
  for (const v of [null, undefined, 42, { data: null, width: 1, height: 1, channels: 3 }, { path: 'x' }, '']) {
    assert.throws(() => checkImageInput(v), ImageDecodeError, String(v));
  }
});

test('a manifest that does not match its ONNX graph is MODEL_INVALID listing every difference; std 0 is refused', async () => {
  const path = join(process.cwd(), 'test', 'fixtures', 'tiny-emotion.onnx');
  const manifest = JSON.parse(await readFile(join(process.cwd(), 'test', 'fixtures', 'tiny-emotion.json'), 'utf8')) as ModelManifest;
  const session = await nodeBackend.createSession(path, { sourceName: path });
  try {
    await checkManifestAgainstGraph(session, manifest, path);
    const wrong = { ...manifest, input: { ...manifest.input, width: 64, channels: 3 as const }, outputs: [{ ...manifest.outputs[0]!, name: 'logits' }] };
    await assert.rejects(checkManifestAgainstGraph(session, wrong, path), (e: unknown) => e instanceof ModelError && e.code === 'MODEL_INVALID' && /channels is 1 in the graph, 3/.test(e.message) && /width is 48 in the graph, 64/.test(e.message) && /"logits" is not in the graph/.test(e.message));
    const labels = { ...manifest, outputs: [{ ...manifest.outputs[0]!, labels: ['a', 'b'] }] };
    await assert.rejects(checkManifestAgainstGraph(session, labels, path), /gives 7 numbers per face, but task emotion has 2 labels/);
  } finally {
    await session.release();
  }
  const std0 = { ...manifest, input: { ...manifest.input, normalisation: { kind: 'meanstd', scale: 1, mean: [0], std: [0] } } };
  assert.throws(() => validateManifest(std0, 'x.json'), /std" > 0/);
});

test('dispose waits for calls in flight, then refuses new ones; an aborted signal ends a call with ABORTED', async () => {
  const life = createLifecycle();
  let released = false;
  let finished = false;
  const call = life.run(async () => {
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(released, false, 'released while a call was running');
    finished = true;
  });
  await life.dispose(async () => {
    released = true;
  });
  await call;
  assert.ok(finished && released);
  assert.equal(await code(life.run(async () => 1)), 'DISPOSED');
  const ctl = new AbortController();
  ctl.abort();
  assert.throws(() => life.checkAborted(ctl.signal, 'x'), (e: unknown) => e instanceof FacesenseError && e.code === 'ABORTED');
});

test('output locations are checked before work: missing folder, a folder given for a file, a file given for a folder', async () => {
  await writeFile(join(dir, 'a-file'), 'x');
  await assert.rejects(checkOutputFile('--out', join(dir, 'nope', 'x.csv')), /--out .*does not exist/);
  await assert.rejects(checkOutputFile('--out', dir), /--out .*is a directory/);
  await assert.rejects(checkOutputDir('--annotate', join(dir, 'a-file')), /--annotate .*not a directory/);
  await assert.rejects(checkOutputTarget('--out', join(dir, 'a-file')), /--out .*not a directory/);
  await assert.rejects(checkOutputTarget('--out', join(dir, 'a-file', 'sub')), /is not a directory/);
  await checkOutputFile('--out', join(dir, 'new.csv'));
  await checkOutputDir('--annotate', join(dir, 'made', 'here'));
  await checkOutputTarget('--out', join(dir, 'pack', 'deep'));
});

test('video frame caps come from the probe', () => {
  assert.equal(frameCap({ fps: 30, durationMs: 10_000 }, {}), Math.ceil(10 * 30 * 1.1) + 10);
  // An fps above the source rate cannot invent frames; every N divides.
  assert.equal(frameCap({ fps: 25, durationMs: 2000 }, { fps: 1e9 }), Math.ceil(2 * 25 * 1.1) + 10);
  assert.equal(frameCap({ fps: 30, durationMs: 10_000 }, { every: 3 }), Math.ceil(10 * 10 * 1.1) + 10);
  assert.ok(frameCap({}, {}) > 0);
});
