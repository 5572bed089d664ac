// Runs an ONNX model in onnxruntime-node (the runtime the facesense analyzer uses) for the Python
// parity tests: ONNX Runtime for Python is not installed, and the Node runtime is what ships.
//
//   node training/tests/ort_run.mjs MODEL.onnx INPUT.npy OUT.json
//
// INPUT.npy: float32, C order (NumPy format 1.0/2.0/3.0). OUT.json: {"outputs": {name: {"dims": [...],
// "data": [...]}}, "inputNames": [...], "outputNames": [...]}.
import { readFileSync, writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';

function readNpyFloat32(path) {
  const buf = readFileSync(path);
  if (buf.readUInt8(0) !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf.readUInt8(6);
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${path}: expected little-endian float32, header ${header}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (shapeText === undefined) throw new Error(`${path}: no shape in header ${header}`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const offset = start + headerLen;
  const count = dims.reduce((a, b) => a * b, 1);
  // Copy into an aligned buffer: the payload offset need not be a multiple of 4.
  const data = new Float32Array(count);
  new Uint8Array(data.buffer).set(buf.subarray(offset, offset + count * 4));
  return { dims, data };
}

const [modelPath, inputPath, outPath] = process.argv.slice(2);
if (!modelPath || !inputPath || !outPath) {
  console.error('usage: node training/tests/ort_run.mjs MODEL.onnx INPUT.npy OUT.json');
  process.exit(2);
}
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const { dims, data } = readNpyFloat32(inputPath);
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, dims) };
const results = await session.run(feeds);
const outputs = {};
for (const name of session.outputNames) {
  const t = results[name];
  outputs[name] = { dims: Array.from(t.dims, Number), data: Array.from(t.data, Number) };
}
writeFileSync(outPath, JSON.stringify({ inputNames: session.inputNames, outputNames: session.outputNames, outputs }));
