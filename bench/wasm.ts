/**
 * Where the browser's time goes: the same model through onnxruntime-web's WASM build and through
 * onnxruntime-node, one thread each, in one Node process (no browser, no worker, no decoding).
 * `node dist/bench/wasm.js [model.onnx ...]`; default: YuNet on a 640×480 input.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';

const MODELS = process.env.FACESENSE_MODELS ?? resolve('..', 'shared', 'models');
const SECONDS = Number(process.env.FACESENSE_BENCH_SECONDS ?? 4);

async function msPerRun(session: ortNode.InferenceSession | ortWeb.InferenceSession, feeds: Record<string, ortNode.Tensor | ortWeb.Tensor>): Promise<number> {
  const run = (f: typeof feeds) => (session as ortNode.InferenceSession).run(f as Record<string, ortNode.Tensor>);
  for (let i = 0; i < 3; i++) await run(feeds);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    await run(feeds);
    n++;
  }
  return (performance.now() - t0) / n;
}

ortWeb.env.wasm.numThreads = 1;
const file = process.argv[2] ?? join(MODELS, 'yunet_dynamic.onnx');
const bytes = new Uint8Array(await readFile(file));
const dims = [1, 3, 480, 640];
const data = Float32Array.from({ length: 3 * 480 * 640 }, (_, i) => (i * 7919) % 256);
const web = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
const node = await ortNode.InferenceSession.create(bytes, { intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
const wasmMs = await msPerRun(web, { [web.inputNames[0]!]: new ortWeb.Tensor('float32', data, dims) });
const nativeMs = await msPerRun(node, { [node.inputNames[0]!]: new ortNode.Tensor('float32', data, dims) });
process.stdout.write(`${file} 640×480, 1 thread: onnxruntime-web WASM ${wasmMs.toFixed(1)} ms/run, onnxruntime-node ${nativeMs.toFixed(1)} ms/run (WASM ${(wasmMs / nativeMs).toFixed(1)}× slower)\n`);
await web.release();
await node.release();
