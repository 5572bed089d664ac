/**
 * Before/after ratios for the speed work (issue 19), each measured in one process with the two
 * sides interleaved round by round, so machine load hits both alike: the ratio is the claim, not
 * the absolute figures. Part of `npm run bench`; `node dist/bench/speed.js` runs it alone.
 */
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { alignFace } from '../src/core/align.js';
import type { Analyzer, StageTimings } from '../src/core/analyzer.js';
import { DEFAULT_DETECT_OPTIONS, type FaceDetector } from '../src/core/detect/types.js';
import { alignFaceInto, inputWriter } from '../src/core/fused.js';
import type { ModelInput } from '../src/core/models/manifest.js';
import { normaliseInto } from '../src/core/normalise.js';
import type { Detection, RgbImage } from '../src/core/types.js';
import { createAnalyzer, type NodeAnalyzerOptions } from '../src/node/analyzer.js';
import { decodeImage, decodeWithSharp } from '../src/node/decode.js';
import { createAnalyzerPool } from '../src/node/pool.js';
import { createModelStore, type ModelStore } from '../src/node/models/store.js';
import { createSession, ort } from '../src/node/onnx.js';
import { createYunetDetector } from '../src/node/platform.js';
import { median, stageRow } from './stages.js';

export interface SpeedRow { bench: string; value: number; unit: string; note: string }

/**
 * Runs each variant `reps` times per round, variants interleaved, for `rounds` rounds; returns
 * each variant's median over rounds of the mean ms per call.
 */
export async function interleaved(variants: readonly (() => unknown)[], rounds = 9, reps = 10): Promise<number[]> {
  for (const v of variants) for (let i = 0; i < 2; i++) await v();
  const per: number[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await variants[k]!();
      per[k]!.push((performance.now() - t) / reps);
    }
  }
  return per.map(median);
}

function ratioRow(bench: string, before: number, after: number, note: string): SpeedRow {
  return { bench, value: before / after, unit: '× faster', note: `${before.toFixed(3)} → ${after.toFixed(3)} ms; ${note}` };
}

/** Fused align+normalise (src/core/fused.ts) against alignFace + normaliseInto, per face and model input. */
export async function benchFusion(frame: RgbImage, det: Detection, inputs: readonly { id: string; input: ModelInput }[]): Promise<SpeedRow[]> {
  const rows: SpeedRow[] = [];
  for (const { id, input } of inputs) {
    const per = input.width * input.height * input.channels;
    const out = new Float32Array(per);
    const unfused = () => normaliseInto(alignFace(frame, det, { width: input.width, height: input.height, channels: input.channels, crop: input.crop }).image, input, out, 0);
    const writer = inputWriter(input);
    const fused = () => alignFaceInto(frame, det, input, out, 0, -1, writer);
    const [a, b] = await interleaved([unfused, fused], 9, 20);
    rows.push(ratioRow(`speed: fused align+normalise, ${id} ${input.width}×${input.height}×${input.channels}`, a!, b!, 'ms per face, alignFace+normaliseInto → alignFaceInto'));
  }
  return rows;
}

/** ONNX Runtime session options against the shipped ones (src/node/onnx.ts), batch 1 and 64. */
export async function benchSessionOptions(models: readonly { id: string; path: string; input: ModelInput }[]): Promise<SpeedRow[]> {
  const base = { intraOpNumThreads: 0, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential', logSeverityLevel: 3 } as const;
  const variants: [string, Record<string, unknown>][] = [
    ['shipped (intra 0, inter 1, all, sequential, arena)', {}],
    ['intra 1', { intraOpNumThreads: 1 }],
    ['intra 2', { intraOpNumThreads: 2 }],
    ['graph extended', { graphOptimizationLevel: 'extended' }],
    ['no CPU arena', { enableCpuMemArena: false }],
    ['no mem pattern', { enableMemPattern: false }],
    ['parallel, inter 2', { executionMode: 'parallel', interOpNumThreads: 2 }],
  ];
  const rows: SpeedRow[] = [];
  for (const m of models) {
    const sessions = await Promise.all(variants.map(([, o]) => ort.InferenceSession.create(m.path, { ...base, ...o } as ort.InferenceSession.SessionOptions)));
    const dims = (n: number) => (m.input.layout === 'NCHW' ? [n, m.input.channels, m.input.height, m.input.width] : [n, m.input.height, m.input.width, m.input.channels]);
    for (const batch of [1, 64]) {
      const per = m.input.width * m.input.height * m.input.channels;
      const data = new Float32Array(batch * per).map((_, i) => ((i * 7919) % 255) / 255);
      const feed = { [m.input.name]: new ort.Tensor('float32', data, dims(batch)) };
      const ms = await interleaved(sessions.map((s) => () => s.run(feed)), 7, batch === 1 ? 20 : 3);
      for (let k = 1; k < variants.length; k++) rows.push(ratioRow(`speed: session ${variants[k]![0]}, ${m.id} batch ${batch}`, ms[0]!, ms[k]!, `vs ${variants[0]![0]}`));
    }
    await Promise.all(sessions.map((s) => s.release()));
  }
  return rows;
}

/**
 * YuNet with `scaleToMinFace` at a few minimum face sizes against full resolution (640 cap): the
 * ratio, the faces found, and how far the eyes move (the alignment's input) on `image`.
 */
export async function benchDetectScale(det: FaceDetector, image: RgbImage, label: string): Promise<SpeedRow[]> {
  const full = { ...DEFAULT_DETECT_OPTIONS, scaleToMinFace: false };
  const sizes = [20, 40, 80];
  const ref = await det.detect(image, full);
  const variants = [() => det.detect(image, full), ...sizes.map((m) => () => det.detect(image, { ...full, minFacePx: m, scaleToMinFace: true }))];
  const ms = await interleaved(variants, 7, 5);
  const rows: SpeedRow[] = [];
  for (const [k, m] of sizes.entries()) {
    const found = await det.detect(image, { ...full, minFacePx: m, scaleToMinFace: true });
    // Eye shift of each reference face (≥ m px) against the nearest face found at the reduced scale.
    const shifts = ref.filter((r) => Math.min(r.boxPx.width, r.boxPx.height) >= m).map((r) => {
      const c = (d: Detection) => ({ x: d.boxPx.x + d.boxPx.width / 2, y: d.boxPx.y + d.boxPx.height / 2 });
      const near = found.reduce<Detection | undefined>((best, d) => (best === undefined || Math.hypot(c(d).x - c(r).x, c(d).y - c(r).y) < Math.hypot(c(best).x - c(r).x, c(best).y - c(r).y) ? d : best), undefined);
      if (near?.landmarksPx === undefined || r.landmarksPx === undefined) return Number.POSITIVE_INFINITY;
      const a = r.landmarksPx;
      const b = near.landmarksPx;
      return Math.max(Math.hypot(a.leftEye.x - b.leftEye.x, a.leftEye.y - b.leftEye.y), Math.hypot(a.rightEye.x - b.rightEye.x, a.rightEye.y - b.rightEye.y));
    });
    rows.push(ratioRow(`speed: detect scaleToMinFace minFacePx ${m}, ${label}`, ms[0]!, ms[k + 1]!, `vs full resolution; ${found.length} face(s) (${ref.length} at full resolution); largest eye shift ${shifts.length === 0 ? '—' : Math.max(...shifts).toFixed(2)} px`));
  }
  return rows;
}

/**
 * The decode stage on a JPEG: sharp (the path before, and still the path for every other file)
 * against decodeImage's WebAssembly mozjpeg fast path (src/node/jpeg.ts; the same pixels).
 */
export async function benchDecode(jpeg: Uint8Array, label: string): Promise<SpeedRow[]> {
  const [before, after] = await interleaved([() => decodeWithSharp(jpeg, 1e9, label), () => decodeImage(jpeg)], 9, 20);
  return [{ bench: `speed: decode ${label}, WebAssembly mozjpeg fast path vs sharp`, value: before! / after!, unit: '× faster', note: `${before!.toFixed(2)} → ${after!.toFixed(2)} ms/image (same pixels: test/jpeg.test.ts)` }];
}

/**
 * Parallelism (issue 19): one in-process analyzer (ONNX Runtime runs synchronously on the calling
 * thread) against a worker-thread pool (src/node/pool.ts), rounds interleaved. Besides images/s,
 * each row gives the CPU milliseconds the process spent per image (all its threads): on a shared
 * machine wall time depends on the load, but CPU per image does not, and cores ÷ CPU per image is
 * the most this machine can do when nothing serialises the work.
 */
export async function benchWorkers(options: NodeAnalyzerOptions, jpeg: Uint8Array, n = 48, rounds = 3): Promise<SpeedRow[]> {
  // "before": the float models this issue started from, one analyzer in this thread.
  const floats = { ...options, models: ['emotion-ferplus', 'attributes-utkface'] };
  const variants: [string, () => Promise<Analyzer>, number][] = [
    ['before: in-process, float emotion-ferplus + attributes-utkface, intra-op 0', () => createAnalyzer(floats), 2],
    ['in-process, float models, intra-op 1', () => createAnalyzer({ ...floats, threads: 1 }), 2],
    ['in-process, shipped defaults, intra-op 0', () => createAnalyzer(options), 2],
    ['2 worker threads, float models, intra-op 1 each', () => createAnalyzerPool({ ...floats, workers: 2, threads: 1 }), 4],
    ['after: 2 worker threads, shipped defaults, intra-op 1 each', () => createAnalyzerPool({ ...options, workers: 2, threads: 1 }), 4],
  ];
  const inputs = Array.from({ length: n }, () => jpeg);
  const analyzers = await Promise.all(variants.map(([, make]) => make()));
  const wall: number[][] = variants.map(() => []);
  const cpu: number[][] = variants.map(() => []);
  const timings: StageTimings[][] = variants.map(() => []);
  for (let r = -1; r < rounds; r++) {
    for (const [k, a] of analyzers.entries()) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for await (const item of a.analyzeMany(inputs, { concurrency: variants[k]![2] })) {
        if (!item.ok) throw item.error;
        if (r >= 0) timings[k]!.push(item.result.timings);
      }
      const c = process.cpuUsage(c0);
      if (r < 0) continue; // warm-up round
      wall[k]!.push((performance.now() - t0) / n);
      cpu[k]!.push((c.user + c.system) / 1000 / n);
    }
  }
  await Promise.all(analyzers.map((a) => a.dispose()));
  const base = median(wall[0]!);
  const baseCpu = median(cpu[0]!);
  return variants.flatMap(([name, , c], k) => {
    const w = median(wall[k]!);
    const u = median(cpu[k]!);
    return [
      { bench: `speed: analyzeMany JPEG 640×480, ${name}, ${c} in flight`, value: 1000 / w, unit: 'images/s', note: `${(base / w).toFixed(2)}× of "before"; CPU ${u.toFixed(1)} ms/image (all threads, ${(baseCpu / u).toFixed(2)}× less than "before") → ${((cpus().length * 1000) / u).toFixed(0)} images/s on ${cpus().length} idle cores if nothing serialised; ${n} images × ${rounds} rounds` },
      stageRow(`analyzeMany JPEG 640×480, ${name}`, timings[k]!),
    ];
  });
}

/**
 * int8 classifiers (training/quantize.py) against their float models: CPU milliseconds per face
 * of one session at batch 1 and 256 (the crop path), rounds interleaved, and the largest output
 * difference on the same inputs.
 */
export async function benchInt8(store: ModelStore, pairs: readonly [string, string][] = [['emotion-ferplus', 'emotion-ferplus-int8'], ['emotion-ferplus-fast', 'emotion-ferplus-fast-int8'], ['attributes-utkface', 'attributes-utkface-int8']]): Promise<SpeedRow[]> {
  const rows: SpeedRow[] = [];
  for (const [f, q] of pairs) {
    const [a, b] = await Promise.all([f, q].map((id) => store.resolveModel(id)));
    const sessions = await Promise.all([a!, b!].map((r) => createSession(r.modelPath)));
    const mi = a!.manifest.input;
    const out = a!.manifest.outputs[0]!.name;
    for (const batch of [1, 256]) {
      const data = new Float32Array(batch * mi.width * mi.height * mi.channels).map((_, i) => ((i * 7919) % 255) / 255);
      const dims = mi.layout === 'NCHW' ? [batch, mi.channels, mi.height, mi.width] : [batch, mi.height, mi.width, mi.channels];
      const feed = { [mi.name]: new ort.Tensor('float32', data, dims) };
      const [ya, yb] = await Promise.all(sessions.map(async (s) => (await s.run(feed))[out]!.data as Float32Array));
      const diff = ya!.reduce((m, v, i) => Math.max(m, Math.abs(v - yb![i]!)), 0);
      const reps = batch === 1 ? 50 : 3;
      const cpu: number[][] = [[], []];
      for (let r = -1; r < 7; r++) {
        for (const [k, s] of sessions.entries()) {
          const c0 = process.cpuUsage();
          for (let i = 0; i < reps; i++) await s.run(feed);
          const c = process.cpuUsage(c0);
          if (r >= 0) cpu[k]!.push((c.user + c.system) / 1000 / reps / batch);
        }
      }
      const [mf, mq] = cpu.map(median);
      rows.push({ bench: `speed: int8 ${q} vs float, batch ${batch}`, value: mf! / mq!, unit: '× less CPU', note: `${mf!.toFixed(3)} → ${mq!.toFixed(3)} CPU ms/face (all threads); largest |output| difference ${diff.toFixed(3)}` });
    }
    await Promise.all(sessions.map((s) => s.release()));
  }
  return rows;
}

/**
 * Crop classification (48×48 crops, batches of 256, expression only) with the float and int8
 * emotion models in this thread and the int8 default on a 2-worker pool: faces/s and CPU ms per
 * face, rounds interleaved; ratios against the float default of before (emotion-ferplus).
 */
export async function benchCropModels(options: NodeAnalyzerOptions, crop: RgbImage, batch = 256, rounds = 5): Promise<SpeedRow[]> {
  const one = (model: string) => ({ ...options, models: [model], tasks: ['emotion'] });
  const variants: [string, () => Promise<Analyzer>][] = [
    ['emotion-ferplus (float, before)', () => createAnalyzer(one('emotion-ferplus'))],
    ['emotion-ferplus-int8', () => createAnalyzer(one('emotion-ferplus-int8'))],
    ['emotion-ferplus-fast', () => createAnalyzer(one('emotion-ferplus-fast'))],
    ['emotion-ferplus-fast-int8', () => createAnalyzer(one('emotion-ferplus-fast-int8'))],
    ['emotion-ferplus-int8, 2 worker threads', () => createAnalyzerPool({ ...one('emotion-ferplus-int8'), workers: 2, threads: 1 })],
  ];
  const analyzers = await Promise.all(variants.map(([, make]) => make()));
  const crops = Array.from({ length: batch }, () => crop);
  const wall: number[][] = variants.map(() => []);
  const cpu: number[][] = variants.map(() => []);
  for (let r = -1; r < rounds; r++) {
    for (const [k, a] of analyzers.entries()) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await a.classifyCrops(crops);
      const c = process.cpuUsage(c0);
      if (r < 0) continue;
      wall[k]!.push((performance.now() - t0) / batch);
      cpu[k]!.push((c.user + c.system) / 1000 / batch);
    }
  }
  await Promise.all(analyzers.map((a) => a.dispose()));
  const [w0, u0] = [median(wall[0]!), median(cpu[0]!)];
  return variants.map(([name], k) => {
    const [w, u] = [median(wall[k]!), median(cpu[k]!)];
    return { bench: `speed: crops 48×48 batch ${batch}, ${name}`, value: 1000 / w, unit: 'faces/s', note: `${(w0 / w).toFixed(2)}× the float default's faces/s; CPU ${u.toFixed(3)} ms/face (${(u0 / u).toFixed(2)}× less) → ${((cpus().length * 1000) / u).toFixed(0)} faces/s on ${cpus().length} idle cores if nothing serialised` };
  });
}

/** analyzeMany on JPEG bytes at 1, 2 and 4 in flight (decode of one input overlapping inference of another). */
export async function benchInFlight(analyzer: Analyzer, jpeg: Uint8Array, n = 24): Promise<SpeedRow[]> {
  const inputs = Array.from({ length: n }, () => jpeg);
  const run = (concurrency: number) => async () => {
    for await (const item of analyzer.analyzeMany(inputs, { concurrency })) if (!item.ok) throw item.error;
  };
  const ms = await interleaved([run(1), run(2), run(4)], 5, 1);
  return [1, 2, 4].map((c, k) => ({ bench: `speed: analyzeMany JPEG 640×480, ${c} in flight`, value: (n * 1000) / ms[k]!, unit: 'images/s', note: `${(ms[0]! / ms[k]!).toFixed(2)}× of 1 in flight; ${n} images per round, rounds interleaved` }));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const shared = resolve(process.cwd(), '..', 'shared');
  const modelsDir = process.env.FACESENSE_MODELS ?? join(shared, 'models');
  const storeOpts = { modelsDir, bundledModelsDir: resolve('models'), allowDownload: false };
  const store = createModelStore(storeOpts);
  const { data, info } = await sharp(join(shared, 'media', 'single_face.jpg')).rotate().removeAlpha().resize(640, 480, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  const frame: RgbImage = { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
  // The same photo as a JPEG file (quality 90), for the decode, workers and in-flight rows.
  const jpeg = new Uint8Array(await sharp(Buffer.from(frame.data), { raw: { width: 640, height: 480, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  const yunet = await createYunetDetector({ modelPath: await store.resolveFile({ id: 'yunet', file: 'yunet_dynamic.onnx' }) });
  const [det] = await yunet.detect(frame, DEFAULT_DETECT_OPTIONS);
  const rows: SpeedRow[] = [];
  const only = process.argv.slice(2);
  if (only.length === 0 || only.includes('detect')) {
    const { data: gd, info: gi } = await sharp(join(shared, 'media', 'multi_face.jpg')).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    rows.push(...(await benchDetectScale(yunet, frame, 'single_face 640×480')));
    rows.push(...(await benchDetectScale(yunet, { data: new Uint8Array(gd), width: gi.width, height: gi.height, channels: 3 }, `multi_face ${gi.width}×${gi.height}`)));
  }
  await yunet.dispose();
  const models = await Promise.all(['emotion-ferplus', 'attributes-utkface', 'emotion-ferplus-fast'].map(async (id) => {
    const r = await store.resolveModel(id);
    return { id, path: r.modelPath, input: r.manifest.input };
  }));
  if (only.length === 0 || only.includes('fusion')) rows.push(...(await benchFusion(frame, det!, models)));
  if (only.length === 0 || only.includes('session')) rows.push(...(await benchSessionOptions(models)));
  if (only.length === 0 || only.includes('decode')) rows.push(...(await benchDecode(jpeg, 'JPEG 640×480')));
  if (only.length === 0 || only.includes('workers')) rows.push(...(await benchWorkers({ store: storeOpts }, jpeg)));
  if (only.length === 0 || only.includes('int8')) rows.push(...(await benchInt8(store)));
  if (only.length === 0 || only.includes('crops')) {
    const { data: cd, info: ci } = await sharp(join(shared, 'media', 'single_face.jpg')).rotate().removeAlpha().resize(48, 48, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
    rows.push(...(await benchCropModels({ store: storeOpts }, { data: new Uint8Array(cd), width: ci.width, height: ci.height, channels: 3 })));
  }
  if (only.length === 0 || only.includes('inflight')) {
    const analyzer = await createAnalyzer({ store: storeOpts });
    rows.push(...(await benchInFlight(analyzer, jpeg)));
    await analyzer.dispose();
  }
  for (const r of rows) process.stdout.write(`| ${r.bench} | ${r.value.toFixed(2)} | ${r.unit} | ${r.note} |\n`);
}
