/* global process, console */
// Bundles facesense/web for browsers with esbuild: dist/web/{index,worker}.js plus onnxruntime-web's
// WASM runtime files beside them (the worker loads them from its own folder). With --app, also the
// web app (web/) into dist/web-app/, models included, ready to serve statically.
import { build } from 'esbuild';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ortDist = path.join(root, 'node_modules', 'onnxruntime-web', 'dist');
/**
 * The runtime files onnxruntime-web fetches at run time: plain WASM, and the asyncify build its
 * WebGPU bundle (onnxruntime-web/webgpu, 1.30) imports.
 */
export const ORT_FILES = ['ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

export async function buildWebLibrary(outdir = path.join(root, 'dist', 'web'), extraEntries = {}) {
  await mkdir(outdir, { recursive: true });
  await build({
    entryPoints: { index: path.join(root, 'src/web/index.ts'), worker: path.join(root, 'src/web/worker.ts'), ...extraEntries },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16.4'],
    // The runtime .mjs/.wasm stay separate files (fetched from beside the worker), not inlined.
    conditions: ['onnxruntime-web-use-extern-wasm'],
    sourcemap: true,
    logLevel: 'warning',
    logOverride: { 'unsupported-dynamic-import': 'silent' },
  });
  for (const f of ORT_FILES) await cp(path.join(ortDist, f), path.join(outdir, f));
  // Runtime files earlier builds copied that nothing loads now (the JSEP build before 1.30's asyncify one).
  for (const f of ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm']) await rm(path.join(outdir, f), { force: true });
  return outdir;
}

/** The models the web app loads by default, copied from these directories (first hit wins). */
export const APP_MODELS = ['emotion-ferplus', 'attributes-utkface', 'emotion-ferplus-fast', 'occlusion-synth'];
export const APP_WEIGHTS = ['yunet_dynamic.onnx'];

export async function buildWebApp(outdir = path.join(root, 'dist', 'web-app'), modelDirs = [process.env.FACESENSE_MODELS, path.join(root, 'models'), path.join(root, '..', 'shared', 'models')].filter(Boolean)) {
  await buildWebLibrary(outdir, { app: path.join(root, 'web/app.ts'), sw: path.join(root, 'web/sw.ts') });
  for (const f of ['index.html', 'app.css']) await cp(path.join(root, 'web', f), path.join(outdir, f));
  const models = path.join(outdir, 'models');
  await mkdir(models, { recursive: true });
  const copyFirst = async (file) => {
    for (const d of modelDirs) {
      try {
        await cp(path.join(d, file), path.join(models, file));
        return;
      } catch {
        // not in this directory: try the next
      }
    }
    throw new Error(`model file ${file} not found in ${modelDirs.join(', ')}`);
  };
  const cards = [];
  for (const id of APP_MODELS) {
    for (const ext of ['.json', '.onnx', '.md']) await copyFirst(id + ext);
    cards.push({ id, manifest: JSON.parse(await readFile(path.join(models, `${id}.json`), 'utf8')), card: await readFile(path.join(models, `${id}.md`), 'utf8') });
  }
  for (const f of APP_WEIGHTS) await copyFirst(f);
  await writeFile(path.join(models, 'index.json'), JSON.stringify(cards));
  // What the service worker (web/sw.ts) caches on install: every file but source maps, the .onnx
  // weights (facesense/web caches those itself, checksummed) and the 27 MB WebGPU runtime (cached
  // when first used).
  const files = (await readdir(outdir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile() && !/\.(map|onnx)$/.test(e.name) && !e.name.includes('.asyncify.') && !e.name.includes('.jsep.') && e.name !== 'precache.json')
    .map((e) => path.relative(outdir, path.join(e.parentPath ?? e.path, e.name)).split(path.sep).join('/'))
    .sort();
  await writeFile(path.join(outdir, 'precache.json'), JSON.stringify(files));
  return outdir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const app = process.argv.includes('--app');
  console.log(app ? await buildWebApp() : await buildWebLibrary());
}
