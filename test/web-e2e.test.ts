/**
 * facesense/web in a real browser (Debian's headless Chromium): the bundle from
 * scripts/build-web.mjs, served from 127.0.0.1, analyses multi_face.jpg and must agree with the
 * Node analyzer on the same image: same faces, same labels, probabilities within 1e-3.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import type { ImageResult } from '../src/core/analyzer.js';
import type { TaskResult } from '../src/core/postprocess.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { startStaticServer, type StaticServer } from '../src/node/static-server.js';
import { hasChromium, launchChromium } from './helpers/browser.js';
import { hasShared, MEDIA, media, SHARED_MODELS } from './helpers/media.js';

const ROOT = process.cwd();
const skip = !hasChromium ? 'needs /usr/bin/chromium (apt package chromium)' : !hasShared ? 'needs ../shared/media' : false;
let server: StaticServer;
let browser: Browser;

const PAGE = `<!doctype html><meta charset="utf-8"><title>facesense e2e</title><script type="module">
import * as facesense from '/lib/index.js';
window.facesense = facesense;
document.title = 'ready';
</script>`;

before(async () => {
  if (skip) return;
  const { buildWebLibrary } = (await import(path.join(ROOT, 'scripts/build-web.mjs'))) as { buildWebLibrary: (dir: string) => Promise<string> };
  const lib = await buildWebLibrary(path.join(ROOT, 'dist', 'web'));
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const pageDir = await mkdtemp(path.join(tmpdir(), 'facesense-e2e-'));
  await writeFile(path.join(pageDir, 'index.html'), PAGE);
  server = await startStaticServer({ mounts: { '/lib/': lib, '/models/': [process.env.FACESENSE_MODELS ?? SHARED_MODELS, path.join(ROOT, 'models')], '/media/': MEDIA, '/': pageDir } });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

interface Face {
  box: { x: number; y: number; width: number; height: number };
  attributes: Record<string, TaskResult>;
}

function comparable(r: ImageResult): Face[] {
  return r.faces.map((f) => ({ box: f.boxPx, attributes: f.attributes as Record<string, TaskResult> })).sort((a, b) => a.box.x - b.box.x);
}

// The float models: onnxruntime-web's int8 kernels round differently from onnxruntime-node's
// (the int8 defaults' probabilities differ by up to ~4e-3), the float ones agree within 1e-3.
const FLOAT_MODELS = ['emotion-ferplus', 'attributes-utkface'];

test('facesense/web in Chromium gives the Node analyzer\'s faces, labels and probabilities on multi_face.jpg', { skip, timeout: 300_000 }, async () => {
  const node = await createAnalyzer({ threads: 1, detectorResize: 'portable', models: FLOAT_MODELS });
  const expected = comparable(await node.analyze(media('multi_face.jpg')));
  const tasks = node.tasks.map((t) => t.task);
  await node.dispose();

  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(String(e)));
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction('document.title === "ready"');
  const got = await page.evaluate(async ({ wanted, floatModels }) => {
    interface WebAnalyzerLike {
      backend: unknown;
      detectorName: string;
      tasks: { task: string }[];
      analyze(input: string): Promise<ImageResult>;
      classifyCrops(inputs: string[], o: { onTimings(t: { detectMs: number; inferMs: number; totalMs: number }): void }): Promise<unknown[]>;
      dispose(): Promise<void>;
    }
    const fs = (globalThis as unknown as { facesense: { createAnalyzer(o: object): Promise<WebAnalyzerLike> } }).facesense;
    const progress: number[] = [];
    const a = await fs.createAnalyzer({ modelBaseUrl: '/models/', tasks: wanted, models: floatModels, onProgress: (e: { loadedBytes: number }) => progress.push(e.loadedBytes) });
    const result = await a.analyze('/media/multi_face.jpg');
    // The worker's crop timings come back to the page's onTimings.
    const cropTimings: { detectMs: number; inferMs: number; totalMs: number }[] = [];
    const crops = await a.classifyCrops(['/media/single_face.jpg'], { onTimings: (t) => cropTimings.push(t) });
    const info = { backend: a.backend, detector: a.detectorName, tasks: a.tasks.map((t) => t.task), progressEvents: progress.length, crops: crops.length, cropTimings };
    await a.dispose();
    return { result, info };
  }, { wanted: tasks, floatModels: FLOAT_MODELS }).catch((e: unknown) => {
    throw new Error(`${String(e)}\npage log:\n${logs.join('\n')}`);
  });
  await page.close();

  assert.deepEqual(got.info.tasks, tasks);
  assert.ok(got.info.progressEvents > 0, 'model download progress was reported');
  assert.equal(got.info.crops, 1);
  assert.equal(got.info.cropTimings.length, 1, 'classifyCrops onTimings called once through the worker');
  const ct = got.info.cropTimings[0]!;
  assert.ok(ct.detectMs === 0 && ct.inferMs > 0 && ct.totalMs >= ct.inferMs, JSON.stringify(ct));
  const actual = comparable(got.result);
  assert.equal(actual.length, 5, 'five faces in multi_face.jpg');
  assert.equal(actual.length, expected.length);
  let maxDiff = 0;
  actual.forEach((face, i) => {
    const want = expected[i]!;
    assert.ok(Math.abs(face.box.x - want.box.x) < 2 && Math.abs(face.box.y - want.box.y) < 2, `face ${i}: box ${JSON.stringify(face.box)} vs Node ${JSON.stringify(want.box)}`);
    for (const task of tasks) {
      const a = face.attributes[task]!;
      const b = want.attributes[task]!;
      assert.equal(a.kind, b.kind);
      if (a.kind === 'class' && b.kind === 'class') assert.equal(a.label, b.label, `face ${i} ${task}`);
      if (a.kind === 'value' && b.kind === 'value') assert.ok(Math.abs(a.value - b.value) <= 0.05, `face ${i} ${task}: browser ${a.value} vs Node ${b.value}`);
      const sa = 'scores' in a ? a.scores : undefined;
      const sb = 'scores' in b ? b.scores : undefined;
      assert.deepEqual(Object.keys(sa ?? {}), Object.keys(sb ?? {}));
      for (const [label, p] of Object.entries(sb ?? {})) {
        const d = Math.abs(sa![label]! - p);
        maxDiff = Math.max(maxDiff, d);
        assert.ok(d <= 1e-3, `face ${i} ${task} ${label}: browser ${sa![label]} vs Node ${p}`);
      }
    }
  });
  console.log(`browser vs Node on multi_face.jpg: 5 faces, max probability difference ${maxDiff.toExponential(2)}; backend ${JSON.stringify(got.info.backend)}`);
});

test('backend \'webgpu\' runs on WebGPU or falls back to WASM and says so; worker: false runs in the page with the same labels', { skip, timeout: 300_000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction('document.title === "ready"');
  const got = (await page.evaluate(`(async () => {
    const a = await window.facesense.createAnalyzer({ modelBaseUrl: '/models/', tasks: ['emotion'], backend: 'webgpu', worker: false });
    const r = await a.analyze('/media/multi_face.jpg');
    const out = { backend: a.backend, labels: r.faces.map((f) => [f.boxPx.x, f.attributes.emotion.label]) };
    await a.dispose();
    return out;
  })()`)) as { backend: { requested: string; backend: string; fallback?: string }; labels: [number, string][] };
  await page.close();
  assert.equal(got.backend.requested, 'webgpu');
  assert.ok(got.backend.backend === 'webgpu' || (got.backend.backend === 'wasm' && typeof got.backend.fallback === 'string' && got.backend.fallback.length > 0), JSON.stringify(got.backend));
  const node = await createAnalyzer({ threads: 1, tasks: ['emotion'], detectorResize: 'portable' });
  const want = (await node.analyze(media('multi_face.jpg'))).faces.map((f) => [f.boxPx.x, f.attributes.emotion!.kind === 'class' ? f.attributes.emotion!.label : ''] as const);
  await node.dispose();
  const sort = (l: readonly (readonly [number, string])[]) => [...l].sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  assert.deepEqual(sort(got.labels), sort(want));
  console.log(`backend 'webgpu' in headless Chromium: ${JSON.stringify(got.backend)}`);
});
