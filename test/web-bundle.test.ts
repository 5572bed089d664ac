/**
 * The seam, checked by a bundler: src/core and facesense/web bundle for browsers
 * (esbuild --platform=browser) with no Node built-in, sharp or onnxruntime-node in them, while a
 * Node-layer module does not (so this test would notice a leak).
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';

const ROOT = process.cwd();

async function bundle(entryPoints: string[]) {
  return build({ entryPoints, bundle: true, write: false, platform: 'browser', format: 'esm', outdir: 'out', splitting: true, logLevel: 'silent', conditions: ['onnxruntime-web-use-extern-wasm'], logOverride: { 'unsupported-dynamic-import': 'silent' } });
}

test('every src/core module bundles for the browser', async () => {
  const dir = path.join(ROOT, 'src', 'core');
  const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => path.join(dir, f));
  assert.ok(files.length > 20, `found ${files.length} core modules`);
  const result = await bundle(files);
  assert.deepEqual(result.errors, []);
  for (const out of result.outputFiles) assert.doesNotMatch(out.text, /\bfrom ["'](node:|sharp|onnxruntime-node)|require\(["'](node:|fs|child_process)/, out.path);
});

test('facesense/web (page entry and worker) bundles for the browser', async () => {
  const result = await bundle([path.join(ROOT, 'src/web/index.ts'), path.join(ROOT, 'src/web/worker.ts')]);
  assert.deepEqual(result.errors, []);
  const text = result.outputFiles.map((o) => o.text).join('\n');
  assert.doesNotMatch(text, /child_process|onnxruntime-node|from ["']node:/);
});

test('a Node-layer module does not bundle for the browser (the check can fail)', async () => {
  await assert.rejects(bundle([path.join(ROOT, 'src/node/decode.ts')]), (e: unknown) => e instanceof Error && /node:fs|sharp/.test(e.message));
});

test('the root entry (facesense) does not load child_process: the ffmpeg video reader is facesense/video', async () => {
  const bundleOf = (entry: string) => build({ entryPoints: [path.join(ROOT, entry)], bundle: true, write: false, platform: 'node', format: 'esm', packages: 'external', metafile: true, logLevel: 'silent' });
  const root = await bundleOf('src/index.ts');
  assert.ok(!Object.keys(root.metafile.inputs).some((f) => f.includes('node/video/')), 'no src/node/video module in the root entry');
  assert.doesNotMatch(root.outputFiles[0]!.text, /child_process/);
  assert.match((await bundleOf('src/video.ts')).outputFiles[0]!.text, /child_process/);
});
