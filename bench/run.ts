/**
 * `npm run bench`: speed of each stage on this machine, printed as a table (and as JSON with
 * --json). Speed goals live here, not in timed tests. Inputs are the real photos of ../shared/media.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { type Analyzer } from '../src/core/analyzer.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { DEFAULT_DETECT_OPTIONS, type FaceDetector } from '../src/core/detect/types.js';
import { createYunetDetector } from '../src/node/platform.js';
import { createModelStore } from '../src/node/models/store.js';
import type { RawImage, RgbImage } from '../src/core/types.js';
import { benchBrowser } from './browser.js';
import { benchResizeOnMedia } from './resize.js';
import { benchDetectSize, webcamFrames } from './detect-size.js';
import { benchVideo, benchVideoJob } from './video.js';
import { stageRow } from './stages.js';
import { benchCropModels, benchDecode, benchDetectScale, benchFusion, benchInFlight, benchInt8, benchSessionOptions, benchWorkers } from './speed.js';
import type { StageTimings } from '../src/core/analyzer.js';

const SHARED = resolve(process.cwd(), '..', 'shared');
const MEDIA = join(SHARED, 'media');
const MODELS_DIR = process.env.FACESENSE_MODELS ?? join(SHARED, 'models');
const FIXTURE_MODEL = resolve('test', 'fixtures', 'tiny-emotion.onnx');

interface Row { bench: string; value: number; unit: string; note: string }
const rows: Row[] = [];

async function rgb(path: string, width?: number, height?: number): Promise<RgbImage> {
  let s = sharp(path).rotate().removeAlpha();
  if (width !== undefined && height !== undefined) s = s.resize(width, height, { fit: 'cover' });
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

/** Median milliseconds of `fn` over `runs` runs after `warmup` runs. */
async function timeMs(fn: () => Promise<unknown>, runs = 20, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

async function benchDetector(name: string, det: FaceDetector, frame: RgbImage, group: RgbImage): Promise<void> {
  const n640 = (await det.detect(frame, DEFAULT_DETECT_OPTIONS)).length;
  rows.push({ bench: `detect ${name} 640×480`, value: await timeMs(() => det.detect(frame, DEFAULT_DETECT_OPTIONS)), unit: 'ms/image', note: `${n640} face(s)` });
  const nGroup = (await det.detect(group, DEFAULT_DETECT_OPTIONS)).length;
  rows.push({ bench: `detect ${name} 1000×667 group`, value: await timeMs(() => det.detect(group, DEFAULT_DETECT_OPTIONS), 10), unit: 'ms/image', note: `${nGroup} face(s), 5 expected` });
}

async function benchCrops(analyzer: Analyzer, crop: RgbImage, note: string): Promise<void> {
  for (const batch of [1, 64, 256]) {
    const crops = Array.from({ length: batch }, () => crop as RawImage);
    const timings: StageTimings[] = [];
    const ms = await timeMs(() => analyzer.classifyCrops(crops, { onTimings: (t) => timings.push(t) }), batch === 1 ? 50 : 10);
    rows.push({ bench: `crop classification 48×48, batch ${batch}`, value: (batch * 1000) / ms, unit: 'faces/s', note });
    if (batch === 256) rows.push(stageRow(`crops 48×48, batch ${batch}, ${note}`, timings, batch, 'ms/face'));
  }
}

function emotionModelsInstalled(): boolean {
  return ['emotion-ferplus', 'emotion-ferplus-int8', 'emotion-ferplus-fast', 'emotion-ferplus-fast-int8'].every((id) => existsSync(resolve('models', `${id}.onnx`)));
}

async function main(): Promise<void> {
  const store = createModelStore({ modelsDir: MODELS_DIR, allowDownload: false });
  const frame = await rgb(join(MEDIA, 'single_face.jpg'), 640, 480);
  const group = await rgb(join(MEDIA, 'multi_face.jpg'));

  const yunet = await createYunetDetector({ modelPath: await store.resolveFile({ id: 'yunet', file: 'yunet_dynamic.onnx' }) });
  await benchDetector('yunet', yunet, frame, group);
  rows.push(...(await benchDetectScale(yunet, frame, 'single_face 640×480')), ...(await benchDetectScale(yunet, group, 'multi_face 1000×667')));
  const [frameFace] = await yunet.detect(frame, DEFAULT_DETECT_OPTIONS);
  await yunet.dispose();
  try {
    const { createViolaJonesDetector } = await import('../src/node/detect/viola-jones/index.js');
    const vj = await createViolaJonesDetector();
    await benchDetector('viola-jones', vj, frame, group);
    await vj.dispose();
  } catch (e) {
    rows.push({ bench: 'detect viola-jones', value: Number.NaN, unit: '', note: `skipped: ${(e as Error).message}` });
  }

  // Full pipeline: the shipped emotion model when installed, else the tiny fixture classifier.
  const models = existsSync(resolve('models', 'emotion-ferplus-int8.onnx')) ? [] : [FIXTURE_MODEL];
  const analyzer = await createAnalyzer({ models, store: { modelsDir: MODELS_DIR, allowDownload: false } });
  const modelNote = analyzer.tasks.map((t) => `${t.task}←${t.model}`).join(', ');
  const raw: RawImage = frame;
  const jpeg = new Uint8Array(await sharp(Buffer.from(frame.data), { raw: { width: frame.width, height: frame.height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer());
  const imageTimings: StageTimings[] = [];
  const perFrame = await timeMs(async () => imageTimings.push((await analyzer.analyze(raw)).timings), 30);
  rows.push({ bench: 'full pipeline 640×480, 1 face', value: 1000 / perFrame, unit: 'images/s', note: `${perFrame.toFixed(1)} ms/image; ${modelNote}` });
  rows.push(stageRow('image 640×480 raw pixels, 1 face, every task', imageTimings.slice(3)));
  // The same photo as JPEG bytes, so the decode stage is sharp's.
  const jpegTimings: StageTimings[] = [];
  await timeMs(async () => jpegTimings.push((await analyzer.analyze(jpeg)).timings), 30);
  rows.push(stageRow('image 640×480 JPEG, 1 face, every task', jpegTimings.slice(3)));
  const N = 8;
  const t0 = performance.now();
  let done = 0;
  for await (const item of analyzer.analyzeMany(Array.from({ length: 64 }, () => raw), { concurrency: N })) if (item.ok) done++;
  rows.push({ bench: `full pipeline 640×480, ${N} in flight`, value: (done * 1000) / (performance.now() - t0), unit: 'images/s', note: modelNote });

  // The same seven tasks from other model sets: the separate UTKFace models (three passes per
  // face), the joint network (one pass) and the accuracy-first set (age, gender and ethnicity from
  // the three-network ensemble with flip averaging: six passes), when installed.
  const variants: [string, string[]][] = [
    ['separate models', ['emotion-ferplus', 'demographics-utkface', 'appearance-utkface']],
    ['joint network', ['joint-ferplus-utkface']],
    ['accuracy-first (demographics ensemble)', ['emotion-ferplus', 'demographics-utkface-ensemble', 'appearance-utkface']],
    // Issue 17: the default before the face trunk took over age, gender and ethnicity (one attribute pass per face).
    ['previous default (one attribute pass)', ['emotion-ferplus-int8', 'attributes-utkface-int8']],
    // Issue 17: the accuracy-first expression model (emotion-ferplus-int8 + emotion-faceres, logits averaged).
    ['accuracy-first expression (emotion ensemble)', ['emotion-ferplus-faceres']],
  ];
  for (const [name, ids] of variants) {
    if (!ids.every((id) => existsSync(resolve('models', `${id}.onnx`)))) continue;
    const a = await createAnalyzer({ models: ids, tasks: analyzer.tasks.map((t) => t.task), store: { modelsDir: MODELS_DIR, allowDownload: false } });
    const ms = await timeMs(() => a.analyze(raw), 30);
    rows.push({ bench: `full pipeline 640×480, 1 face, ${name}`, value: 1000 / ms, unit: 'images/s', note: `${ms.toFixed(1)} ms/image; ${ids.join(' + ')}` });
    await a.dispose();
  }

  // Video: decode → detect/track → classify, detection on every frame and on every 5th.
  try {
    rows.push(...(await benchVideo(analyzer, MEDIA, models.length > 0 ? 'fixture model' : 'all tasks')));
    if (models.length === 0) rows.push(...(await benchVideoJob(MEDIA, { modelsDir: MODELS_DIR, allowDownload: false })));
  } catch (e) {
    rows.push({ bench: 'video 640×480', value: Number.NaN, unit: '', note: `skipped: ${(e as Error).message}` });
  }

  // Speed ratios (bench/speed.ts): fused align+normalise, session options, inputs in flight.
  const sourced = await Promise.all(['emotion-ferplus', 'attributes-utkface', 'emotion-ferplus-fast'].filter((id) => existsSync(resolve('models', `${id}.onnx`))).map((id) => store.resolveModel(id)));
  const speedModels = sourced.map((r) => ({ id: r.id, path: r.modelPath, input: r.manifest.input }));
  if (frameFace !== undefined) rows.push(...(await benchFusion(frame, frameFace, speedModels)));
  rows.push(...(await benchSessionOptions(speedModels)));
  rows.push(...(await benchDecode(jpeg, 'JPEG 640×480')));
  rows.push(...(await benchInFlight(analyzer, jpeg)));
  // The detector's input resize in Node: sharp (default) vs the browser's pure-TS one (bench/resize.ts).
  rows.push(...(await benchResizeOnMedia(MEDIA, MODELS_DIR)));
  rows.push(...(await benchWorkers({ store: { modelsDir: MODELS_DIR, allowDownload: false } }, jpeg)));
  rows.push(...(await benchInt8(store)));

  await analyzer.dispose();

  // Crop mode: 48×48 face crops classified in batches (FER2013-style datasets), expression only,
  // with each installed emotion model (the fixture classifier when none is).
  const crop = await rgb(join(MEDIA, 'single_face.jpg'), 48, 48);
  if (emotionModelsInstalled()) rows.push(...(await benchCropModels({ store: { modelsDir: MODELS_DIR, allowDownload: false } }, crop)));
  const emotionModels = ['emotion-ferplus-int8', 'emotion-ferplus', 'emotion-ferplus-fast-int8', 'emotion-ferplus-fast'].filter((id) => existsSync(resolve('models', `${id}.onnx`)));
  for (const model of emotionModels.length > 0 ? emotionModels : [FIXTURE_MODEL]) {
    const one = await createAnalyzer({ models: [model], tasks: ['emotion'], store: { modelsDir: MODELS_DIR, allowDownload: false } });
    await benchCrops(one, crop, `emotion←${one.tasks[0]!.model}`);
    if (model === emotionModels[0]) {
      const ms = await timeMs(() => one.analyze(raw), 30);
      rows.push({ bench: 'full pipeline 640×480, 1 face, emotion only', value: 1000 / ms, unit: 'images/s', note: `${ms.toFixed(1)} ms/image; emotion←${model}` });
      try {
        rows.push(...(await benchVideo(one, MEDIA, 'emotion only')));
      } catch (e) {
        rows.push({ bench: 'video 640×480, emotion only', value: Number.NaN, unit: '', note: `skipped: ${(e as Error).message}` });
      }
    }
    await one.dispose();
  }

  const refined = await createAnalyzer({ models, refineLandmarks: 2, store: { modelsDir: MODELS_DIR, allowDownload: false } });
  const perRefined = await timeMs(() => refined.analyze(raw), 10);
  rows.push({ bench: 'full pipeline 640×480, refineLandmarks 2', value: 1000 / perRefined, unit: 'images/s', note: `${perRefined.toFixed(1)} ms/image` });
  await refined.dispose();

  // How small the detector's input can be for a webcam face (bench/detect-size.ts), then the browser.
  rows.push(...(await benchDetectSize(await webcamFrames(MEDIA), 'single_face.mp4 640×480, 60 frames')));
  try {
    rows.push(...(await benchBrowser(MEDIA)));
  } catch (e) {
    rows.push({ bench: 'browser (headless Chromium)', value: Number.NaN, unit: '', note: `skipped: ${(e as Error).message}` });
  }

  const cpu = cpus();
  const machine = `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, Node ${process.version}`;
  if (process.argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify({ machine, rows }, null, 2)}\n`);
    return;
  }
  const w = Math.max(...rows.map((r) => r.bench.length));
  process.stdout.write(`facesense benchmarks — ${machine}\n\n`);
  process.stdout.write(`| ${'benchmark'.padEnd(w)} | ${'value'.padStart(9)} | unit      | note\n|${'-'.repeat(w + 2)}|-----------|-----------|------\n`);
  for (const r of rows) process.stdout.write(`| ${r.bench.padEnd(w)} | ${(Number.isFinite(r.value) ? r.value.toFixed(1) : '—').padStart(9)} | ${r.unit.padEnd(9)} | ${r.note}\n`);
}

await main();
