import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ModelError } from '../src/core/errors.js';
import { getWeightsEntry, isWeightsId, WEIGHTS_REGISTRY } from '../src/core/models/registry.js';
import { createModelStore } from '../src/node/models/store.js';
import type { DownloadProgress, ModelStoreOptions } from '../src/node/models/store.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

const ENV_KEYS = ['FACESENSE_MODELS', 'FACESENSE_CACHE', 'FACESENSE_OFFLINE', 'XDG_CACHE_HOME'] as const;
const savedEnv = new Map<string, string | undefined>(ENV_KEYS.map((k) => [k, process.env[k]]));

function restoreEnv(): void {
  for (const [k, v] of savedEnv) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

function clearEnv(): void {
  for (const k of ENV_KEYS) delete process.env[k];
}

let root = '';
let counter = 0;

/** A fresh empty directory under this file's temp root. */
async function freshDir(name: string): Promise<string> {
  counter += 1;
  const dir = path.join(root, `${counter}-${name}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Deterministic fake model bytes (not a real ONNX graph; the store never parses them). */
function fakeOnnx(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x & 0xff;
  }
  return b;
}

function manifestFor(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    format: 1,
    input: {
      name: 'input',
      width: 4,
      height: 4,
      channels: 1,
      layout: 'NCHW',
      crop: { mode: 'none' },
      normalisation: { kind: 'scale', scale: 1 / 255 },
    },
    outputs: [{ task: 'emotion', name: 'logits', decode: 'softmax', labels: ['happy', 'sad'] }],
    ...extra,
  };
}

/** Writes `<id>.json` (and `<id>.onnx` unless `onnx` is null) into `dir`. */
async function writeModel(
  dir: string,
  id: string,
  opts: { onnx?: Buffer | null; manifest?: Record<string, unknown> } = {},
): Promise<{ json: string; onnx: string }> {
  const json = path.join(dir, `${id}.json`);
  const onnx = path.join(dir, `${id}.onnx`);
  await writeFile(json, JSON.stringify(opts.manifest ?? manifestFor(id)));
  if (opts.onnx !== null) await writeFile(onnx, opts.onnx ?? fakeOnnx(64));
  return { json, onnx };
}

/** A fetch that refuses anything but the local test server, so no test can reach the network. */
const localFetch: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== '127.0.0.1') throw new Error(`test tried to reach ${url.href}`);
  return fetch(input, init);
};

/** Store options every test starts from: private cache, empty bundled dir, local-only fetch. */
async function baseOptions(): Promise<ModelStoreOptions> {
  return {
    cacheDir: await freshDir('cache'),
    bundledModelsDir: await freshDir('bundled'),
    fetch: localFetch,
  };
}

async function expectModelError(p: Promise<unknown>, code: string, ...fragments: string[]): Promise<ModelError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ModelError, `expected a ModelError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message lacks ${JSON.stringify(f)}:\n${e.message}`);
    return e;
  }
  assert.fail(`expected ${code}, but it resolved`);
}

// --- a real HTTP server on 127.0.0.1 ---------------------------------------------------------

interface Route {
  status?: number;
  body?: Buffer;
  /** Delay before answering, so concurrent requests overlap. */
  delayMs?: number;
  /** Send the body in this many pieces (to exercise progress reports). */
  chunks?: number;
  /** Declare this Content-Length but close the connection after half the body. */
  truncate?: boolean;
}

const routes = new Map<string, Route>();
const hits = new Map<string, number>();
let server: Server | undefined;
let baseUrl = '';

function hitCount(p: string): number {
  return hits.get(p) ?? 0;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const p = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  hits.set(p, hitCount(p) + 1);
  const route = routes.get(p);
  if (route?.delayMs !== undefined) await new Promise((r) => setTimeout(r, route.delayMs));
  if (route === undefined || route.status === 404) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const body = route.body ?? Buffer.alloc(0);
  res.writeHead(route.status ?? 200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
  if (route.truncate === true) {
    res.write(body.subarray(0, body.length >> 1), () => res.destroy());
    return;
  }
  const n = Math.max(1, route.chunks ?? 1);
  const step = Math.ceil(body.length / n);
  for (let i = 0; i < body.length; i += step) {
    res.write(body.subarray(i, i + step));
    await new Promise((r) => setTimeout(r, 5));
  }
  res.end();
}

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'facesense-store-'));
  server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => res.destroy(e instanceof Error ? e : new Error(String(e))));
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://127.0.0.1:${port}`;
});

after(async () => {
  restoreEnv();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await rm(root, { recursive: true, force: true });
});

beforeEach(() => {
  clearEnv();
});

// ---------------------------------------------------------------------------------------------

describe('weights registry', () => {
  it('holds the three detector weights, frozen', () => {
    assert.deepEqual(Object.keys(WEIGHTS_REGISTRY).sort(), ['ultraface-320', 'yunet', 'yunet-640']);
    assert.ok(Object.isFrozen(WEIGHTS_REGISTRY));
    for (const [id, e] of Object.entries(WEIGHTS_REGISTRY)) {
      assert.ok(Object.isFrozen(e));
      assert.equal(e.id, id);
      assert.match(e.sha256, /^[0-9a-f]{64}$/);
      assert.equal(path.basename(e.file), e.file);
      assert.ok(e.description.length > 0);
      if (e.url !== undefined) assert.match(e.url, /^https:\/\//);
    }
    assert.equal(WEIGHTS_REGISTRY.yunet.url, undefined);
    assert.ok(!('url' in WEIGHTS_REGISTRY.yunet));
    assert.equal(WEIGHTS_REGISTRY['yunet-640'].licence, 'Apache-2.0');
    assert.equal(WEIGHTS_REGISTRY['ultraface-320'].licence, 'MIT');
  });

  it('getWeightsEntry names the known ids for an unknown one', () => {
    assert.equal(getWeightsEntry('yunet-640').file, 'yunet_2023mar_640.onnx');
    assert.ok(isWeightsId('ultraface-320'));
    assert.ok(!isWeightsId('toString'));
    assert.throws(
      () => getWeightsEntry('retinaface'),
      (e: unknown) => e instanceof ModelError && e.code === 'MODEL_NOT_FOUND' && e.message.includes('yunet, yunet-640, ultraface-320'),
    );
  });
});

describe('search path', () => {
  it("defaults to the package's own models/ at the repo root, then the cache", () => {
    const store = createModelStore({ cacheDir: path.join(root, 'unused-cache') });
    const dirs = store.searchPath();
    const repoModels = path.resolve('models');
    assert.deepEqual(dirs, [repoModels, path.join(root, 'unused-cache')]);
    // It is the models/ beside this package's package.json.
    assert.ok(existsSync(repoModels), `${repoModels} should exist`);
    assert.ok(existsSync(path.join(path.dirname(repoModels), 'package.json')));
  });

  it('FACESENSE_MODELS comes first; the modelsDir option overrides it', () => {
    process.env.FACESENSE_MODELS = path.join(root, 'from-env');
    const envStore = createModelStore({ cacheDir: path.join(root, 'c') });
    assert.equal(envStore.searchPath()[0], path.join(root, 'from-env'));
    assert.equal(envStore.searchPath().length, 3);
    const optStore = createModelStore({ modelsDir: path.join(root, 'from-opt'), cacheDir: path.join(root, 'c') });
    assert.equal(optStore.searchPath()[0], path.join(root, 'from-opt'));
    assert.ok(!optStore.searchPath().includes(path.join(root, 'from-env')));
  });

  it('cache dir: FACESENSE_CACHE, else XDG_CACHE_HOME/facesense/models, else ~/.cache/facesense/models', () => {
    process.env.XDG_CACHE_HOME = path.join(root, 'xdg');
    assert.equal(createModelStore().searchPath().at(-1), path.join(root, 'xdg', 'facesense', 'models'));
    process.env.FACESENSE_CACHE = path.join(root, 'fs-cache');
    assert.equal(createModelStore().searchPath().at(-1), path.join(root, 'fs-cache'));
    delete process.env.FACESENSE_CACHE;
    process.env.XDG_CACHE_HOME = 'relative/is/ignored';
    assert.match(createModelStore().searchPath().at(-1) ?? '', /[/\\]\.cache[/\\]facesense[/\\]models$/);
  });
});

describe('resolveModel: explicit paths', () => {
  it('a .onnx with its .json beside it', async () => {
    const dir = await freshDir('explicit');
    const { json, onnx } = await writeModel(dir, 'fs-explicit');
    const store = createModelStore(await baseOptions());
    const r = await store.resolveModel(onnx);
    assert.deepEqual({ id: r.id, modelPath: r.modelPath, manifestPath: r.manifestPath }, { id: 'fs-explicit', modelPath: onnx, manifestPath: json });
    assert.equal(r.manifest.input.width, 4);
  });

  it('a .json manifest, also relative to the current directory', async () => {
    const dir = await freshDir('explicit-json');
    const { json, onnx } = await writeModel(dir, 'fs-explicit-json');
    const store = createModelStore(await baseOptions());
    const r = await store.resolveModel(path.relative(process.cwd(), json));
    assert.equal(r.modelPath, onnx);
    assert.equal(r.manifestPath, json);
  });

  it('a directory holding <dirname>.json + .onnx, or a single manifest', async () => {
    const parent = await freshDir('explicit-dir');
    const named = path.join(parent, 'fs-dir-model');
    await mkdir(named);
    const a = await writeModel(named, 'fs-dir-model');
    const store = createModelStore(await baseOptions());
    assert.equal((await store.resolveModel(named)).modelPath, a.onnx);

    const other = path.join(parent, 'release-3');
    await mkdir(other);
    const b = await writeModel(other, 'fs-single');
    assert.equal((await store.resolveModel(other + path.sep)).modelPath, b.onnx);

    await writeModel(other, 'fs-second');
    await expectModelError(store.resolveModel(other), 'MODEL_NOT_FOUND', 'fs-second.json', 'fs-single.json');
  });

  it('a .onnx without a manifest, or a missing path, is MODEL_NOT_FOUND naming it', async () => {
    const dir = await freshDir('explicit-bad');
    const onnx = path.join(dir, 'lonely.onnx');
    await writeFile(onnx, fakeOnnx(16));
    const store = createModelStore(await baseOptions());
    await expectModelError(store.resolveModel(onnx), 'MODEL_NOT_FOUND', onnx, path.join(dir, 'lonely.json'));
    await expectModelError(store.resolveModel(path.join(dir, 'nope.onnx')), 'MODEL_NOT_FOUND', path.join(dir, 'nope.onnx'));
  });
});

describe('resolveModel: search order for an id', () => {
  it('modelsDir option, then the package models/, then the cache', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('models');
    const id = 'fs-order';
    const inCache = await writeModel(opts.cacheDir ?? '', id, { onnx: fakeOnnx(8, 3) });
    const store = createModelStore({ ...opts, modelsDir });
    assert.equal((await store.resolveModel(id)).modelPath, inCache.onnx);

    const inBundled = await writeModel(opts.bundledModelsDir ?? '', id, { onnx: fakeOnnx(8, 2) });
    assert.equal((await store.resolveModel(id)).modelPath, inBundled.onnx);

    const inModels = await writeModel(modelsDir, id);
    const r = await store.resolveModel(id);
    assert.equal(r.modelPath, inModels.onnx);
    assert.equal(r.manifestPath, inModels.json);
  });

  it('FACESENSE_MODELS is used when no option is given; the option wins over it', async () => {
    const opts = await baseOptions();
    const envDir = await freshDir('env-models');
    const optDir = await freshDir('opt-models');
    const id = 'fs-env';
    const fromEnv = await writeModel(envDir, id);
    const fromOpt = await writeModel(optDir, id);
    await writeModel(opts.bundledModelsDir ?? '', id);
    process.env.FACESENSE_MODELS = envDir;
    assert.equal((await createModelStore(opts).resolveModel(id)).modelPath, fromEnv.onnx);
    assert.equal((await createModelStore({ ...opts, modelsDir: optDir }).resolveModel(id)).modelPath, fromOpt.onnx);
  });

  it('a manifest without its onnx finds the onnx in the cache', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('manifest-only');
    const id = 'fs-split';
    const { json } = await writeModel(modelsDir, id, { onnx: null });
    const cached = path.join(opts.cacheDir ?? '', `${id}.onnx`);
    await writeFile(cached, fakeOnnx(32));
    const r = await createModelStore({ ...opts, modelsDir, allowDownload: false }).resolveModel(id);
    assert.equal(r.manifestPath, json);
    assert.equal(r.modelPath, cached);
  });

  it('an invalid manifest is MODEL_INVALID naming the file', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('invalid');
    const store = createModelStore({ ...opts, modelsDir });

    const broken = path.join(modelsDir, 'fs-broken.json');
    await writeFile(broken, '{ "id": "fs-broken", ');
    await writeFile(path.join(modelsDir, 'fs-broken.onnx'), fakeOnnx(8));
    await expectModelError(store.resolveModel('fs-broken'), 'MODEL_INVALID', broken, 'not valid JSON');

    const { json } = await writeModel(modelsDir, 'fs-shape', { manifest: { ...manifestFor('fs-shape'), format: 2 } });
    await expectModelError(store.resolveModel('fs-shape'), 'MODEL_INVALID', json, '"format"');

    const renamed = await writeModel(modelsDir, 'fs-renamed', { manifest: manifestFor('fs-original') });
    await expectModelError(store.resolveModel('fs-renamed'), 'MODEL_INVALID', renamed.json, 'fs-original');

    const badSha = await writeModel(modelsDir, 'fs-badsha', { manifest: manifestFor('fs-badsha', { sha256: 'abc' }) });
    await expectModelError(store.resolveModel('fs-badsha'), 'MODEL_INVALID', badSha.json, 'sha256');
  });

  it('an unknown id lists every directory searched and how to fix it', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('empty');
    const store = createModelStore({ ...opts, modelsDir });
    const e = await expectModelError(
      store.resolveModel('fs-missing'),
      'MODEL_NOT_FOUND',
      path.join(modelsDir, 'fs-missing.json'),
      path.join(opts.bundledModelsDir ?? '', 'fs-missing.json'),
      path.join(opts.cacheDir ?? '', 'fs-missing.json'),
      'FACESENSE_MODELS',
      'path',
    );
    assert.equal(e.source, 'fs-missing');
    // A detector id gets pointed at resolveFile.
    await expectModelError(store.resolveModel('yunet'), 'MODEL_NOT_FOUND', 'resolveFile');
  });

  it('verifyLocal checks a local model against the manifest sha256', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('verify-local');
    const bytes = fakeOnnx(40);
    await writeModel(modelsDir, 'fs-good', { onnx: bytes, manifest: manifestFor('fs-good', { sha256: sha256(bytes) }) });
    const bad = await writeModel(modelsDir, 'fs-bad', { onnx: bytes, manifest: manifestFor('fs-bad', { sha256: 'a'.repeat(64) }) });
    const strict = createModelStore({ ...opts, modelsDir, verifyLocal: true });
    await strict.resolveModel('fs-good');
    await expectModelError(strict.resolveModel('fs-bad'), 'CHECKSUM_MISMATCH', bad.onnx, 'a'.repeat(64), sha256(bytes));
    // Without verifyLocal, local files are trusted.
    assert.equal((await createModelStore({ ...opts, modelsDir }).resolveModel('fs-bad')).modelPath, bad.onnx);
  });
});

describe('downloads from a local HTTP server', () => {
  it('downloads a manifest-only model into the cache, verifies it and reports progress', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('dl-ok');
    const bytes = fakeOnnx(200_000, 7);
    routes.set('/ok.onnx', { body: bytes, chunks: 4 });
    const id = 'fs-download';
    const { json } = await writeModel(modelsDir, id, {
      onnx: null,
      manifest: manifestFor(id, { url: `${baseUrl}/ok.onnx`, sha256: sha256(bytes) }),
    });
    const events: DownloadProgress[] = [];
    const store = createModelStore({ ...opts, modelsDir, allowDownload: true, onProgress: (e) => events.push(e) });
    const r = await store.resolveModel(id);
    const expected = path.join(opts.cacheDir ?? '', `${id}.onnx`);
    assert.equal(r.modelPath, expected);
    assert.equal(r.manifestPath, json);
    assert.deepEqual(await readFile(expected), bytes);
    assert.deepEqual(await readdir(opts.cacheDir ?? ''), [`${id}.onnx`], 'no temp files left behind');

    assert.ok(events.length >= 2, `expected several progress events, got ${events.length}`);
    for (let i = 1; i < events.length; i++) assert.ok((events[i]?.loadedBytes ?? 0) > (events[i - 1]?.loadedBytes ?? 0));
    const last = events.at(-1);
    assert.deepEqual(last, { id, url: `${baseUrl}/ok.onnx`, loadedBytes: bytes.length, totalBytes: bytes.length });

    // Once cached, it is not fetched again.
    assert.equal((await store.resolveModel(id)).modelPath, expected);
    assert.equal(hitCount('/ok.onnx'), 1);
  });

  it('concurrent resolves of one id share a single download', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('dl-concurrent');
    const bytes = fakeOnnx(50_000, 11);
    routes.set('/shared.onnx', { body: bytes, delayMs: 100, chunks: 2 });
    const id = 'fs-concurrent';
    await writeModel(modelsDir, id, { onnx: null, manifest: manifestFor(id, { url: `${baseUrl}/shared.onnx`, sha256: sha256(bytes) }) });
    const store = createModelStore({ ...opts, modelsDir, allowDownload: true });
    const results = await Promise.all(Array.from({ length: 6 }, () => store.resolveModel(id)));
    assert.equal(hitCount('/shared.onnx'), 1);
    assert.equal(new Set(results.map((r) => r.modelPath)).size, 1);
    assert.deepEqual(await readFile(results[0]?.modelPath ?? ''), bytes);
  });

  it('resolveFile downloads a registry-style entry and dedupes concurrent calls', async () => {
    const opts = await baseOptions();
    const bytes = fakeOnnx(30_000, 5);
    routes.set('/weights.onnx', { body: bytes, delayMs: 50 });
    const entry = { id: 'fs-weights', file: 'fs_weights.onnx', sha256: sha256(bytes), url: `${baseUrl}/weights.onnx` };
    const store = createModelStore({ ...opts, allowDownload: true });
    const [a, b] = await Promise.all([store.resolveFile(entry), store.resolveFile(entry)]);
    assert.equal(a, path.join(opts.cacheDir ?? '', 'fs_weights.onnx'));
    assert.equal(b, a);
    assert.equal(hitCount('/weights.onnx'), 1);
  });

  it('a checksum mismatch throws CHECKSUM_MISMATCH and leaves nothing in the cache', async () => {
    const opts = await baseOptions();
    const bytes = fakeOnnx(10_000, 13);
    routes.set('/tampered.onnx', { body: bytes, chunks: 3 });
    const wrong = 'f'.repeat(64);
    const store = createModelStore({ ...opts, allowDownload: true });
    const entry = { id: 'fs-tampered', file: 'fs_tampered.onnx', sha256: wrong, url: `${baseUrl}/tampered.onnx` };
    const e = await expectModelError(store.resolveFile(entry), 'CHECKSUM_MISMATCH', wrong, sha256(bytes), `${baseUrl}/tampered.onnx`);
    assert.equal(e.source, `${baseUrl}/tampered.onnx`);
    assert.deepEqual(await readdir(opts.cacheDir ?? ''), []);
    // The failure is not remembered: a retry fetches again.
    await expectModelError(store.resolveFile(entry), 'CHECKSUM_MISMATCH');
    assert.equal(hitCount('/tampered.onnx'), 2);
  });

  it('HTTP 404 is DOWNLOAD_FAILED naming the status and the URL', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('dl-404');
    const id = 'fs-gone';
    await writeModel(modelsDir, id, { onnx: null, manifest: manifestFor(id, { url: `${baseUrl}/gone.onnx`, sha256: 'b'.repeat(64) }) });
    const store = createModelStore({ ...opts, modelsDir, allowDownload: true });
    await expectModelError(store.resolveModel(id), 'DOWNLOAD_FAILED', '404', `${baseUrl}/gone.onnx`);
    assert.deepEqual(await readdir(opts.cacheDir ?? ''), []);
  });

  it('a connection cut short is DOWNLOAD_FAILED and leaves nothing in the cache', async () => {
    const opts = await baseOptions();
    const bytes = fakeOnnx(100_000, 17);
    routes.set('/cut.onnx', { body: bytes, truncate: true });
    const store = createModelStore({ ...opts, allowDownload: true });
    const entry = { id: 'fs-cut', file: 'fs_cut.onnx', sha256: sha256(bytes), url: `${baseUrl}/cut.onnx` };
    await expectModelError(store.resolveFile(entry), 'DOWNLOAD_FAILED', `${baseUrl}/cut.onnx`);
    assert.deepEqual(await readdir(opts.cacheDir ?? ''), []);
  });

  it('refuses to download without a sha256 unless verifyChecksums is false', async () => {
    const opts = await baseOptions();
    const bytes = fakeOnnx(1000, 19);
    routes.set('/nosha.onnx', { body: bytes });
    const entry = { id: 'fs-nosha', file: 'fs_nosha.onnx', url: `${baseUrl}/nosha.onnx` };
    await expectModelError(createModelStore({ ...opts, allowDownload: true }).resolveFile(entry), 'MODEL_INVALID', 'sha256', 'verifyChecksums');
    assert.equal(hitCount('/nosha.onnx'), 0);
    const p = await createModelStore({ ...opts, allowDownload: true, verifyChecksums: false }).resolveFile(entry);
    assert.deepEqual(await readFile(p), bytes);
  });
});

describe('offline', () => {
  it('FACESENSE_OFFLINE=1 stops downloads; the error lists every place searched and the fixes', async () => {
    const opts = await baseOptions();
    const modelsDir = await freshDir('offline');
    const bytes = fakeOnnx(100, 23);
    routes.set('/offline.onnx', { body: bytes });
    const id = 'fs-offline';
    const { json } = await writeModel(modelsDir, id, {
      onnx: null,
      manifest: manifestFor(id, { url: `${baseUrl}/offline.onnx`, sha256: sha256(bytes) }),
    });
    process.env.FACESENSE_OFFLINE = '1';
    const store = createModelStore({ ...opts, modelsDir });
    await expectModelError(
      store.resolveModel(id),
      'MODEL_NOT_FOUND',
      json,
      path.join(modelsDir, `${id}.onnx`),
      path.join(opts.cacheDir ?? '', `${id}.onnx`),
      `${baseUrl}/offline.onnx`,
      'FACESENSE_OFFLINE=1',
      'FACESENSE_OFFLINE',
      'allowDownload: true',
    );
    const entry = { id: 'fs-offline-file', file: 'fs_offline.onnx', sha256: sha256(bytes), url: `${baseUrl}/offline.onnx` };
    await expectModelError(
      store.resolveFile(entry),
      'MODEL_NOT_FOUND',
      path.join(modelsDir, 'fs_offline.onnx'),
      path.join(opts.bundledModelsDir ?? '', 'fs_offline.onnx'),
      path.join(opts.cacheDir ?? '', 'fs_offline.onnx'),
      'FACESENSE_MODELS',
      'downloads are disabled',
    );
    assert.equal(hitCount('/offline.onnx'), 0);

    // An explicit allowDownload wins over the environment.
    const online = createModelStore({ ...opts, modelsDir, allowDownload: true });
    assert.deepEqual(await readFile((await online.resolveModel(id)).modelPath), bytes);
  });

  it('allowDownload: false behaves the same and says so', async () => {
    const opts = await baseOptions();
    const entry = { id: 'fs-disallowed', file: 'fs_disallowed.onnx', sha256: 'c'.repeat(64), url: `${baseUrl}/disallowed.onnx` };
    await expectModelError(
      createModelStore({ ...opts, allowDownload: false }).resolveFile(entry),
      'MODEL_NOT_FOUND',
      'allowDownload option is false',
      'allowDownload: true',
    );
    assert.equal(hitCount('/disallowed.onnx'), 0);
  });
});

describe('real detector weights in ../shared/models', () => {
  const sharedDir = path.resolve('../shared/models');

  it('resolves yunet from modelsDir and verifies its sha256', async () => {
    const opts = await baseOptions();
    const store = createModelStore({ ...opts, modelsDir: '../shared/models', verifyLocal: true, allowDownload: false });
    const p = await store.resolveFile(getWeightsEntry('yunet'));
    assert.equal(p, path.join(sharedDir, 'yunet_dynamic.onnx'));
    assert.equal(sha256(await readFile(p)), WEIGHTS_REGISTRY.yunet.sha256);
    assert.ok((await stat(p)).size > 100_000);
  });

  it('every registry entry matches its shared file', async () => {
    const opts = await baseOptions();
    const store = createModelStore({ ...opts, modelsDir: sharedDir, verifyLocal: true, allowDownload: false });
    for (const entry of Object.values(WEIGHTS_REGISTRY)) {
      assert.equal(await store.resolveFile(entry), path.join(sharedDir, entry.file));
    }
  });

  it('a wrong sha256 for a local file is CHECKSUM_MISMATCH with verifyLocal', async () => {
    const opts = await baseOptions();
    const store = createModelStore({ ...opts, modelsDir: sharedDir, verifyLocal: true, allowDownload: false });
    const entry = { ...WEIGHTS_REGISTRY.yunet, sha256: '0'.repeat(64) };
    await expectModelError(store.resolveFile(entry), 'CHECKSUM_MISMATCH', path.join(sharedDir, 'yunet_dynamic.onnx'), WEIGHTS_REGISTRY.yunet.sha256);
  });

  it('yunet missing everywhere: no url is known, and the error says where to put it', async () => {
    const opts = await baseOptions();
    const store = createModelStore({ ...opts, allowDownload: true });
    await expectModelError(store.resolveFile(getWeightsEntry('yunet')), 'MODEL_NOT_FOUND', 'yunet_dynamic.onnx', 'no url', 'FACESENSE_MODELS');
  });
});
