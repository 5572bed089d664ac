/**
 * Where the browser's time goes: the same model through onnxruntime-web's WASM build and through
 * onnxruntime-node, one thread each, in one Node process (no browser, no worker, no decoding),
 * runs interleaved round by round so load hits both alike. With FACESENSE_ORT_WEB_ALT=DIR (another
 * installed onnxruntime-web package, e.g. a newer version in a scratch folder) that build is measured
 * too, to judge an upgrade. `node dist/bench/wasm.js [model.onnx]`; default: YuNet on a 640×480 input.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { interleaved } from './speed.js';

const MODELS = process.env.FACESENSE_MODELS ?? resolve('..', 'shared', 'models');

type Ort = typeof ortWeb;
interface Runner { label: string; run: () => Promise<unknown>; release: () => Promise<void> }

async function webRunner(ort: Ort, label: string, bytes: Uint8Array, data: Float32Array, dims: number[]): Promise<Runner> {
  ort.env.wasm.numThreads = 1;
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { [s.inputNames[0]!]: new ort.Tensor('float32', data, dims) };
  return { label, run: () => s.run(feeds), release: () => s.release() };
}

const file = process.argv[2] ?? join(MODELS, 'yunet_dynamic.onnx');
const bytes = new Uint8Array(await readFile(file));
const dims = [1, 3, 480, 640];
const data = Float32Array.from({ length: 3 * 480 * 640 }, (_, i) => (i * 7919) % 256);
const runners: Runner[] = [await webRunner(ortWeb, `onnxruntime-web ${ortWeb.env.versions.web ?? ''} WASM`, bytes, data, dims)];
const alt = process.env.FACESENSE_ORT_WEB_ALT;
if (alt !== undefined && alt !== '') {
  const other = (await import(pathToFileURL(join(resolve(alt), 'dist', 'ort.node.min.mjs')).href)) as Ort;
  runners.push(await webRunner(other, `onnxruntime-web ${other.env.versions.web ?? ''} WASM (${alt})`, bytes, data, dims));
}
const node = await ortNode.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
const nodeFeeds = { [node.inputNames[0]!]: new ortNode.Tensor('float32', data, dims) };
runners.push({ label: 'onnxruntime-node', run: () => node.run(nodeFeeds), release: () => node.release() });
const ms = await interleaved(runners.map((r) => r.run), 5, 4);
const nativeMs = ms[ms.length - 1]!;
for (const [i, r] of runners.entries()) process.stdout.write(`${file} 640×480, 1 thread: ${r.label} ${ms[i]!.toFixed(1)} ms/run (${(ms[i]! / nativeMs).toFixed(2)}× onnxruntime-node)\n`);
for (const r of runners) await r.release();
