/**
 * Calibration for static int8 quantization (training/quantize.py, issue 19): runs a classifier
 * whose activations `quantize.py expose` made graph outputs on training face crops, prepared as
 * classifyCrops prepares them (decodeImage + the fused align/normalise writer), and writes each
 * activation's range as JSON for `quantize.py apply`.
 *
 *   node dist/bench/calibrate.js --model emotion-ferplus --exposed X.exposed.onnx \
 *     --tensors X.tensors.json --images /work/data/ferplus/FER2013Train --count 512 --out X.ranges.json
 *
 * Models whose crop is `aligned` get their crops as the analyzer aligns them: YuNet's largest face
 * of each image (an image without one is skipped).
 *
 * Ranges are min/max over the crops, or with --percentile P the P-th percentile of |x| per tensor
 * (over a sample of values), which ignores rare outliers at the price of clipping them.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { alignFaceInto, inputWriter } from '../src/core/fused.js';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import { WEIGHTS_REGISTRY } from '../src/core/models/registry.js';
import type { Detection, RgbImage } from '../src/core/types.js';
import { decodeImage } from '../src/node/decode.js';
import { createYunetDetector } from '../src/node/platform.js';
import { createModelStore } from '../src/node/models/store.js';
import { ort } from '../src/node/onnx.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    exposed: { type: 'string' },
    tensors: { type: 'string' },
    images: { type: 'string' },
    count: { type: 'string', default: '512' },
    percentile: { type: 'string' },
    out: { type: 'string' },
    'split-file': { type: 'string' },
  },
});
if (values.model === undefined || values.exposed === undefined || values.tensors === undefined || values.images === undefined || values.out === undefined) {
  throw new Error('usage: calibrate --model ID --exposed FILE --tensors FILE --images DIR [--count N] [--percentile P] --out FILE');
}
const store = createModelStore({ modelsDir: process.env.FACESENSE_MODELS ?? resolve('..', 'shared', 'models'), bundledModelsDir: resolve('models'), allowDownload: false });
const { manifest } = await store.resolveModel(values.model);
const input = manifest.input;
const names = JSON.parse(await readFile(values.tensors, 'utf8')) as string[];
const session = await ort.InferenceSession.create(values.exposed, { graphOptimizationLevel: 'disabled', logSeverityLevel: 3 });

// Every k-th file of the sorted folder: a deterministic spread over the whole training set.
// --split-file (a facesense-split JSON, e.g. data/splits/utkface-part1.json): its training files only.
const train = values['split-file'] === undefined ? undefined : new Set((JSON.parse(await readFile(values['split-file'], 'utf8')) as { splits: { train: string[] } }).splits.train);
const files = (await readdir(values.images)).filter((f) => /\.(png|jpe?g)$/i.test(f) && (train === undefined || train.has(f))).sort();
const count = Math.min(files.length, Number(values.count));
const step = files.length / count;
const picked = Array.from({ length: count }, (_, i) => join(values.images!, files[Math.floor(i * step)]!));

const per = input.width * input.height * input.channels;
const writer = inputWriter(input);
const lo = new Map<string, number>(names.map((n) => [n, Infinity]));
const hi = new Map<string, number>(names.map((n) => [n, -Infinity]));
const samples = new Map<string, number[]>(names.map((n) => [n, []]));
const pct = values.percentile === undefined ? undefined : Number(values.percentile);
const detector = input.crop?.mode === 'aligned' ? await createYunetDetector({ modelPath: await store.resolveFile(WEIGHTS_REGISTRY.yunet) }) : undefined;
const BATCH = 64;
let used = 0;
for (let s = 0; s < picked.length; s += BATCH) {
  const faces: { image: RgbImage; det: Detection | undefined }[] = [];
  for (const f of picked.slice(s, s + BATCH)) {
    const image = await decodeImage(f);
    const found = detector === undefined ? [undefined] : await detector.detect(image, DEFAULT_DETECT_OPTIONS);
    const det = found.reduce<Detection | undefined>((a, b) => (a === undefined || (b !== undefined && b.boxPx.width > a.boxPx.width) ? b : a), undefined);
    if (detector === undefined || det !== undefined) faces.push({ image, det });
  }
  if (faces.length === 0) continue;
  used += faces.length;
  const chunk = faces;
  const data = new Float32Array(chunk.length * per);
  for (const [i, f] of chunk.entries()) alignFaceInto(f.image, f.det, input, data, i * per, -1, writer);
  const dims = input.layout === 'NCHW' ? [chunk.length, input.channels, input.height, input.width] : [chunk.length, input.height, input.width, input.channels];
  const out = await session.run({ [input.name]: new ort.Tensor('float32', data, dims) }, names);
  for (const n of names) {
    const v = out[n]!.data as Float32Array;
    let a = lo.get(n)!;
    let b = hi.get(n)!;
    for (let i = 0; i < v.length; i++) {
      const x = v[i]!;
      if (x < a) a = x;
      if (x > b) b = x;
    }
    lo.set(n, a);
    hi.set(n, b);
    if (pct !== undefined) {
      const keep = samples.get(n)!;
      for (let i = 0; i < v.length; i += 7) keep.push(v[i]!);
    }
  }
}
const ranges: Record<string, [number, number]> = {};
for (const n of names) {
  if (pct === undefined) {
    ranges[n] = [lo.get(n)!, hi.get(n)!];
    continue;
  }
  const xs = Float64Array.from(samples.get(n)!).sort();
  const q = (p: number) => xs[Math.min(xs.length - 1, Math.max(0, Math.round((p / 100) * (xs.length - 1))))]!;
  // The percentile clips the tails only; a range that is one-sided (Relu outputs) stays at 0.
  ranges[n] = [Math.max(lo.get(n)!, q(100 - pct)), Math.min(hi.get(n)!, q(pct))];
}
await writeFile(values.out, `${JSON.stringify(ranges, null, 1)}\n`);
process.stdout.write(`calibrated ${names.length} tensors of ${values.model} on ${used} crops from ${values.images}\n`);
await session.release();
await detector?.dispose();
