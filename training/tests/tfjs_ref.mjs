// Reference outputs of a TF.js graph model from TF.js itself (CPU backend), for the converter's
// parity test (training/tests/test_tfjs.py).
//   node tfjs_ref.mjs NODE_MODULES MODEL_JSON INPUT_F32 N,H,W,C OUT_JSON [OUTPUT_NODE,...]
// INPUT_F32: raw little-endian float32 NHWC. Writes {name: {shape, data}} for every output.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const [modules, modelPath, inputPath, shapeArg, outPath, outputsArg] = process.argv.slice(2);
const require = createRequire(join(modules, 'noop.js'));
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const converter = require('@tensorflow/tfjs-converter');

await tf.setBackend('cpu');
const model = JSON.parse(readFileSync(modelPath, 'utf8'));
const specs = [];
const buffers = [];
for (const group of model.weightsManifest) {
  specs.push(...group.weights);
  for (const p of group.paths) buffers.push(readFileSync(join(dirname(modelPath), p)));
}
const all = Buffer.concat(buffers);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
const graph = await converter.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData, format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy, signature: model.signature }));
const shape = shapeArg.split(',').map(Number);
const raw = readFileSync(inputPath);
const input = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape, 'float32');
const names = outputsArg ? outputsArg.split(',') : Object.values(model.signature.outputs).map((o) => o.name);
const outs = graph.execute(input, names);
const result = {};
for (const [i, t] of (Array.isArray(outs) ? outs : [outs]).entries()) {
  result[names[i].split(':')[0]] = { shape: t.shape, data: Array.from(await t.data()) };
}
writeFileSync(outPath, JSON.stringify(result));
