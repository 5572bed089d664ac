/**
 * Browser throughput: frames per second of facesense/web in headless Chromium (Debian's chromium)
 * on a 640×480 fake webcam (single_face.mp4 as y4m), detection on every frame, beside the Node
 * analyzer on the same frames in the same run (and @vladmandic/human, the anchor, when HUMAN_DIR
 * names it: bench/human.ts). The variants run interleaved, round by round (a few frames each per
 * round, median over rounds), so the load of a shared machine hits all of them alike: the ratios
 * to Node are the claim. Each browser row says where a frame's time goes: the page's canvas
 * readback (grab), decoding (RGBA→RGB), detection, align+normalise, inference, and the rest of the
 * round trip (copies, messages to and from the worker, tracking). Also what a first visit costs.
 * Part of `npm run bench`; `node dist/bench/browser.js` runs it alone.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import type { AnalyzerOptions } from '../src/core/analyzer.js';
import { createFrameAnalyzer, type FrameAnalyzer } from '../src/core/video/stream.js';
import type { RgbImage } from '../src/core/types.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { startStaticServer } from '../src/node/static-server.js';
import { openVideo } from '../src/node/video/decode.js';
import { findHuman, HUMAN_CONFIGS, HUMAN_PAGE_SETUP } from './human.js';
import { median } from './stages.js';

export interface BrowserBenchRow { bench: string; value: number; unit: string; note: string }

const ROOT = process.cwd();
const CHROMIUM = process.env.FACESENSE_CHROMIUM ?? '/usr/bin/chromium';
const ROUNDS = Number(process.env.FACESENSE_BENCH_ROUNDS ?? 4);
const FRAMES = Number(process.env.FACESENSE_BENCH_FRAMES ?? 10);
const EXPRESSION = ['emotion'];
const ALL = ['emotion', 'age', 'gender', 'ethnicity', 'glasses', 'beard', 'moustache'];
const FAST = ['emotion-ferplus-fast'];
// The float models on both sides: the web app runs them (onnxruntime-web's int8 kernels round differently
// from onnxruntime-node's) and the app's build serves only those; Node runs the same ones here.
const FLOAT_EXPRESSION = ['emotion-ferplus'];
const FLOAT_ALL = ['emotion-ferplus', 'attributes-utkface'];

interface Variant {
  readonly label: string;
  readonly tasks: readonly string[];
  readonly side: number;
  readonly models?: readonly string[];
}
interface BrowserVariant extends Variant {
  readonly threads: number;
  readonly pipelined?: boolean;
  /** How the page reads the camera frame: a canvas (grabFrame, default) or WebCodecs (grabFrameAsync). */
  readonly grab?: 'canvas' | 'webcodecs';
  /** The Node variant it is compared with. */
  readonly node: string;
}

const NODE_VARIANTS: Readonly<Record<string, Variant>> = {
  'expr-640': { label: 'expression only, detector input 640', tasks: EXPRESSION, side: 640, models: FLOAT_EXPRESSION },
  'expr-320': { label: 'expression only, detector input 320', tasks: EXPRESSION, side: 320, models: FLOAT_EXPRESSION },
  'fast-320': { label: 'expression only (emotion-ferplus-fast), detector input 320', tasks: EXPRESSION, side: 320, models: FAST },
  'all-640': { label: 'all tasks, detector input 640', tasks: ALL, side: 640, models: FLOAT_ALL },
  'all-320': { label: 'all tasks, detector input 320', tasks: ALL, side: 320, models: FLOAT_ALL },
};

const BROWSER_VARIANTS: readonly BrowserVariant[] = [
  { label: 'expression only, detector input 640, WASM 1 thread', tasks: EXPRESSION, side: 640, threads: 1, models: FLOAT_EXPRESSION, node: 'expr-640' },
  { label: 'expression only, detector input 640, WASM 2 threads', tasks: EXPRESSION, side: 640, threads: 2, models: FLOAT_EXPRESSION, node: 'expr-640' },
  { label: 'expression only, detector input 320, WASM 1 thread', tasks: EXPRESSION, side: 320, threads: 1, models: FLOAT_EXPRESSION, node: 'expr-320' },
  { label: 'expression only, detector input 320, WASM 1 thread, frames grabbed with WebCodecs (grabFrameAsync)', tasks: EXPRESSION, side: 320, threads: 1, grab: 'webcodecs', models: FLOAT_EXPRESSION, node: 'expr-320' },
  { label: 'expression only, detector input 320, WASM 1 thread, WebCodecs grab, pipelined (the app\'s live loop)', tasks: EXPRESSION, side: 320, threads: 1, grab: 'webcodecs', pipelined: true, models: FLOAT_EXPRESSION, node: 'expr-320' },
  { label: 'expression only, detector input 320, WASM 2 threads', tasks: EXPRESSION, side: 320, threads: 2, models: FLOAT_EXPRESSION, node: 'expr-320' },
  { label: 'expression only, detector input 320, WASM 2 threads, pipelined', tasks: EXPRESSION, side: 320, threads: 2, pipelined: true, models: FLOAT_EXPRESSION, node: 'expr-320' },
  { label: 'expression only (emotion-ferplus-fast), detector input 320, WASM 2 threads, pipelined', tasks: EXPRESSION, side: 320, threads: 2, pipelined: true, models: FAST, node: 'fast-320' },
  { label: 'expression only (emotion-ferplus-fast), detector input 320, WASM 1 thread, WebCodecs grab', tasks: EXPRESSION, side: 320, threads: 1, grab: 'webcodecs', models: FAST, node: 'fast-320' },
  { label: 'expression only (emotion-ferplus-fast), detector input 320, WASM 1 thread, WebCodecs grab, pipelined', tasks: EXPRESSION, side: 320, threads: 1, grab: 'webcodecs', pipelined: true, models: FAST, node: 'fast-320' },
  { label: 'expression only (emotion-ferplus-fast), detector input 320, WASM 2 threads, WebCodecs grab, pipelined', tasks: EXPRESSION, side: 320, threads: 2, grab: 'webcodecs', pipelined: true, models: FAST, node: 'fast-320' },
  { label: 'all tasks, detector input 640, WASM 1 thread', tasks: ALL, side: 640, threads: 1, models: FLOAT_ALL, node: 'all-640' },
  { label: 'all tasks, detector input 640, WASM 2 threads', tasks: ALL, side: 640, threads: 2, models: FLOAT_ALL, node: 'all-640' },
  { label: 'all tasks, detector input 320, WASM 2 threads, pipelined', tasks: ALL, side: 320, threads: 2, pipelined: true, models: FLOAT_ALL, node: 'all-320' },
];

// Runs in the page: the fake-webcam <video>, one analyzer (its own worker) per variant, warmed up.
const PAGE_SETUP = `async ({ variants }) => {
  const fs = window.facesense;
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  await video.play();
  window.__benchVideo = video;
  const list = [];
  for (const v of variants) {
    const analyzer = await fs.createAnalyzer({ modelBaseUrl: '/models/', tasks: v.tasks, threads: v.threads, detectorInputSide: v.side, ...(v.models ? { models: v.models } : {}), ...(v.backend ? { backend: v.backend } : {}) });
    const frames = fs.createFrameAnalyzer(analyzer, { detectEvery: 1 });
    for (let i = 0; i < 3; i++) await frames.analyzeFrame(fs.grabFrame(video), performance.now());
    list.push({ analyzer, frames, pipelined: v.pipelined === true, webcodecs: v.grab === 'webcodecs' });
  }
  window.__fs = {
    // n frames of variant i; pipelined: frame k+1 is grabbed and queued while frame k is analysed.
    async run(i, n) {
      const { frames, pipelined, webcodecs } = list[i];
      const s = { grab: 0, round: 0, total: 0, decode: 0, detect: 0, align: 0, infer: 0, faces: 0 };
      const add = (r) => { const t = r.timings; s.total += t.totalMs; s.decode += t.decodeMs; s.detect += t.detectMs; s.align += t.alignMs + t.normaliseMs; s.infer += t.inferMs; s.faces += r.faces.length; };
      const grab = async () => { const g = performance.now(); const f = webcodecs ? await fs.grabFrameAsync(video) : fs.grabFrame(video); s.grab += performance.now() - g; return f; };
      const t0 = performance.now();
      if (!pipelined) {
        for (let k = 0; k < n; k++) {
          const f = await grab();
          const t = performance.now();
          const r = await frames.analyzeFrame(f, t);
          s.round += performance.now() - t;
          add(r);
        }
      } else {
        let t = performance.now();
        let pending = frames.analyzeFrame(await grab(), t);
        for (let k = 0; k < n; k++) {
          const next = k + 1 < n ? frames.analyzeFrame(await grab(), performance.now()) : undefined;
          const r = await pending;
          s.round += performance.now() - t;
          t = performance.now();
          add(r);
          pending = next;
        }
      }
      return { ms: performance.now() - t0, n, ...s };
    },
    backends: () => list.map((l) => l.analyzer.backend),
    dispose: () => Promise.all(list.map((l) => l.analyzer.dispose())),
  };
  return list.map((l) => l.analyzer.backend);
}`;

interface PageRun { ms: number; n: number; grab: number; round: number; total: number; decode: number; detect: number; align: number; infer: number; faces: number }

async function nodeAnalyzers(): Promise<Map<string, { frames: FrameAnalyzer; dispose: () => Promise<void> }>> {
  const out = new Map<string, { frames: FrameAnalyzer; dispose: () => Promise<void> }>();
  for (const [key, v] of Object.entries(NODE_VARIANTS)) {
    const options: AnalyzerOptions = { tasks: v.tasks, detectorInputSide: v.side, ...(v.models === undefined ? {} : { models: v.models }) };
    const a = await createAnalyzer(options);
    out.set(key, { frames: createFrameAnalyzer(a, { detectEvery: 1 }), dispose: () => a.dispose() });
  }
  return out;
}

const perFrame = (r: PageRun) => {
  const f = (x: number) => (x / r.n).toFixed(1);
  return `grab ${f(r.grab)} · decode ${f(r.decode)} · detect ${f(r.detect)} · align ${f(r.align)} · infer ${f(r.infer)} · rest of the round trip ${f(r.round - r.total)} ms per frame`;
};

export async function benchBrowser(media: string): Promise<BrowserBenchRow[]> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt package chromium)`);
  const { buildWebApp } = (await import(pathToFileURL(join(ROOT, 'scripts/build-web.mjs')).href)) as { buildWebApp: (dir: string) => Promise<string> };
  const app = await buildWebApp(join(ROOT, 'dist', 'web-app'));
  const dir = await mkdtemp(join(tmpdir(), 'facesense-bench-browser-'));
  const rows: BrowserBenchRow[] = [];
  const human = await findHuman();
  const server = await startStaticServer({ mounts: { '/': [dir, app], ...('mounts' in human ? human.mounts : {}) } });
  let served = 0;
  server.server.on('request', (_req, res) => res.on('finish', () => (served += Number(res.getHeader('content-length') ?? 0))));
  const browserArgs = ['--no-sandbox', '--disable-dev-shm-usage', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];
  const node = await nodeAnalyzers();
  try {
    const y4m = join(dir, 'cam.y4m');
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-i', join(media, 'single_face.mp4'), '-t', '4', '-vf', 'scale=640:480,fps=30', '-pix_fmt', 'yuv420p', y4m]);
    await writeFile(join(dir, 'bench.html'), `<!doctype html><meta charset="utf-8"><script type="module">import * as f from '/index.js'; window.facesense = f; document.title = 'ready';</script>`);
    const frames: RgbImage[] = [];
    for await (const f of await openVideo(y4m)) {
      frames.push(f.image);
      if (frames.length >= 60) break;
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...browserArgs, `--use-file-for-fake-video-capture=${y4m}`] });
    try {
      // First visit: a fresh profile loads the app until its first photo result.
      const context = await browser.newContext();
      const page = await context.newPage();
      served = 0;
      const t0 = performance.now();
      await page.goto(`${server.url}/?sw=0`);
      await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 300_000 });
      await page.setInputFiles('#files', join(media, 'single_face.jpg'));
      await page.waitForSelector('figure canvas', { timeout: 300_000 });
      const firstResultS = (performance.now() - t0) / 1000;
      const bytes = served;
      await context.close();
      rows.push({ bench: 'browser first visit: bytes downloaded', value: bytes / 1e6, unit: 'MB', note: 'app + onnxruntime-web WASM + yunet + emotion-ferplus + attributes-utkface, from 127.0.0.1' });
      rows.push({ bench: 'browser first visit: time to first photo result', value: firstResultS, unit: 's', note: 'fresh profile, page load → models loaded → single_face.jpg analysed (local server: no network latency)' });

      const page2 = await browser.newPage();
      await page2.goto(`${server.url}/bench.html`);
      await page2.waitForFunction('document.title === "ready"');
      process.stderr.write(`bench browser: loading ${BROWSER_VARIANTS.length} analyzers${'mounts' in human ? ' and human' : ''}\n`);
      const backends = (await page2.evaluate(`(${PAGE_SETUP})(${JSON.stringify({ variants: BROWSER_VARIANTS })})`)) as { backend: string; threads: number; crossOriginIsolated: boolean }[];
      let humanVersion: string | undefined;
      const humanLabels = Object.keys(HUMAN_CONFIGS);
      if ('mounts' in human) humanVersion = (await page2.evaluate(`(${HUMAN_PAGE_SETUP})(${JSON.stringify({ configs: Object.values(HUMAN_CONFIGS) })})`)) as string;

      // Rounds: every variant (browser, human, Node) runs FRAMES frames per round, in turn.
      const fs: PageRun[][] = BROWSER_VARIANTS.map(() => []);
      const hs: { ms: number; n: number; faces: number; emotions: number; backend: string; threads: boolean | null; simd: boolean | null }[][] = humanLabels.map(() => []);
      const ns = new Map<string, number[]>(Object.keys(NODE_VARIANTS).map((k) => [k, []]));
      let ts = 0;
      for (let round = 0; round < ROUNDS; round++) {
        process.stderr.write(`bench browser: round ${round + 1} of ${ROUNDS}\n`);
        for (const [i] of BROWSER_VARIANTS.entries()) fs[i]!.push((await page2.evaluate(`window.__fs.run(${i}, ${FRAMES})`)) as PageRun);
        if (humanVersion !== undefined) for (const [i] of humanLabels.entries()) hs[i]!.push((await page2.evaluate(`window.__human.run(${i}, ${FRAMES})`)) as (typeof hs)[number][number]);
        for (const [key, a] of node) {
          const t0n = performance.now();
          for (let k = 0; k < FRAMES; k++) await a.frames.analyzeFrame(frames[(round * FRAMES + k) % frames.length]!, ts++);
          ns.get(key)!.push((FRAMES * 1000) / (performance.now() - t0n));
        }
      }
      const nodeFps = new Map([...ns].map(([k, v]) => [k, median(v)]));
      BROWSER_VARIANTS.forEach((v, i) => {
        const runs = fs[i]!;
        const fps = median(runs.map((r) => (r.n * 1000) / r.ms));
        const mid = runs.find((r) => (r.n * 1000) / r.ms === fps) ?? runs[0]!;
        const b = backends[i]!;
        const vsNode = nodeFps.get(v.node)!;
        rows.push({ bench: `browser 640×480 webcam, detect every frame, ${v.label}`, value: fps, unit: 'frames/s', note: `${(fps / vsNode).toFixed(2)}× Node (${NODE_VARIANTS[v.node]!.label}: ${vsNode.toFixed(1)} frames/s, same run); ${perFrame(mid)}; ${b.backend} ${b.threads} thread(s)${b.crossOriginIsolated ? ', cross-origin isolated' : ''}; ${ROUNDS}×${FRAMES} frames, ${mid.faces / mid.n} face(s) per frame` });
      });
      if (humanVersion === undefined) {
        rows.push({ bench: 'browser 640×480 webcam, @vladmandic/human (the anchor)', value: Number.NaN, unit: 'frames/s', note: 'skipped' in human ? human.skipped : '' });
      } else {
        humanLabels.forEach((label, i) => {
          const runs = hs[i]!;
          const fps = median(runs.map((r) => (r.n * 1000) / r.ms));
          const r = runs[0]!;
          const vsNode = nodeFps.get('expr-640')!;
          rows.push({ bench: `browser 640×480 webcam, @vladmandic/human ${humanVersion}, ${label}`, value: fps, unit: 'frames/s', note: `${(fps / vsNode).toFixed(2)}× facesense Node expression-only 640 (same run); TF.js ${r.backend}${r.simd === true ? ' SIMD' : ''}${r.threads === true ? ' threads' : ''}, on the page's main thread (as its demo); ${r.faces / r.n} face(s), ${r.emotions / r.n} with emotion per frame; ${ROUNDS}×${FRAMES} frames` });
        });
      }
      for (const [key, fps] of nodeFps) rows.push({ bench: `Node 640×480 same frames, detect every frame, ${NODE_VARIANTS[key]!.label}`, value: fps, unit: 'frames/s', note: `onnxruntime-node, default threads; interleaved with the browser rows, ${ROUNDS}×${FRAMES} frames` });
      await page2.evaluate('window.__fs.dispose()');
      await page2.close();
    } finally {
      await browser.close();
    }
    rows.push(await webgpuRow(server.url, browserArgs, y4m));
  } finally {
    for (const a of node.values()) await a.dispose();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

/** WebGPU in headless Chromium: with --enable-unsafe-webgpu the only adapter is SwiftShader (the CPU); a few frames on it, or why not. */
async function webgpuRow(url: string, args: readonly string[], y4m: string): Promise<BrowserBenchRow> {
  const bench = 'browser 640×480 webcam, detect every frame, expression only, detector input 320, WebGPU';
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...args, `--use-file-for-fake-video-capture=${y4m}`, '--enable-unsafe-webgpu'] });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}/bench.html`);
    await page.waitForFunction('document.title === "ready"');
    const adapter = (await page.evaluate('navigator.gpu?.requestAdapter().then((a) => (a === null ? "none" : `${a.info?.vendor ?? "?"} ${a.info?.architecture ?? ""}`.trim()), (e) => `error ${e.message}`) ?? "no navigator.gpu"')) as string;
    const [b] = (await page.evaluate(`(${PAGE_SETUP})(${JSON.stringify({ variants: [{ tasks: EXPRESSION, models: FLOAT_EXPRESSION, threads: 1, side: 320, backend: 'webgpu' }] })})`)) as { backend: string; fallback?: string }[];
    const r = (await page.evaluate('window.__fs.run(0, 5)')) as PageRun;
    await page.evaluate('window.__fs.dispose()');
    return { bench, value: (r.n * 1000) / r.ms, unit: 'frames/s', note: `adapter: ${adapter} (a software rasteriser on the CPU, not a GPU: no hardware adapter headless here); ran on ${b!.backend}${b!.fallback === undefined ? '' : ` (${b!.fallback})`}; ${perFrame(r)}; 5 frames, not interleaved` };
  } catch (e) {
    return { bench, value: Number.NaN, unit: 'frames/s', note: `failed: ${(e as Error).message.split('\n')[0]}` };
  } finally {
    await browser.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchBrowser(resolve(ROOT, '..', 'shared', 'media'));
  for (const r of rows) process.stdout.write(`| ${r.bench} | ${r.value.toFixed(1)} | ${r.unit} | ${r.note}\n`);
}
