/**
 * Browser throughput: frames per second of facesense/web in headless Chromium (Debian's chromium)
 * on a 640×480 fake webcam (single_face.mp4 as y4m), detection on every frame, expression only and
 * all tasks, WASM with one thread and with threads (cross-origin isolated page), beside the Node
 * analyzer on the same frames in the same run. Also what a first visit costs: bytes downloaded and
 * time to the first result. Part of `npm run bench`; `node dist/bench/browser.js` runs it alone.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { createFrameAnalyzer } from '../src/core/video/stream.js';
import type { RgbImage } from '../src/core/types.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { startStaticServer } from '../src/node/static-server.js';
import { openVideo } from '../src/node/video/decode.js';

export interface BrowserBenchRow { bench: string; value: number; unit: string; note: string }

const ROOT = process.cwd();
const CHROMIUM = process.env.FACESENSE_CHROMIUM ?? '/usr/bin/chromium';
const SECONDS = Number(process.env.FACESENSE_BENCH_SECONDS ?? 8);
const EXPRESSION = ['emotion'];
const ALL = ['emotion', 'age', 'gender', 'ethnicity', 'glasses', 'beard', 'moustache'];

// Runs in the page: a fake-webcam <video>, then analyzeFrame in a loop for `seconds`.
const PAGE_LOOP = `async ({ tasks, threads, seconds, side }) => {
  const fs = window.facesense;
  const video = document.createElement('video');
  video.muted = true;
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  await video.play();
  const analyzer = await fs.createAnalyzer({ modelBaseUrl: '/models/', tasks, threads, detectorInputSide: side });
  const frames = fs.createFrameAnalyzer(analyzer, { detectEvery: 1 });
  for (let i = 0; i < 5; i++) await frames.analyzeFrame(fs.grabFrame(video), performance.now());
  let n = 0, faces = 0, detect = 0, infer = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const r = await frames.analyzeFrame(fs.grabFrame(video), performance.now());
    n++; faces += r.faces.length; detect += r.timings.detectMs; infer += r.timings.inferMs;
  }
  const fps = (n * 1000) / (performance.now() - t0);
  const backend = analyzer.backend;
  await analyzer.dispose();
  video.srcObject.getTracks().forEach((t) => t.stop());
  return { fps, n, faces, detectMs: detect / n, inferMs: infer / n, backend };
}`;

async function nodeFps(frames: readonly RgbImage[], tasks: readonly string[], seconds: number, side = 640): Promise<{ fps: number; n: number }> {
  const analyzer = await createAnalyzer({ tasks, detectorInputSide: side });
  const live = createFrameAnalyzer(analyzer, { detectEvery: 1 });
  let t = 0;
  for (let i = 0; i < 5; i++) await live.analyzeFrame(frames[i % frames.length]!, t++);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) await live.analyzeFrame(frames[n++ % frames.length]!, t++);
  const fps = (n * 1000) / (performance.now() - t0);
  await analyzer.dispose();
  return { fps, n };
}

export async function benchBrowser(media: string): Promise<BrowserBenchRow[]> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt package chromium)`);
  const { buildWebApp } = (await import(pathToFileURL(join(ROOT, 'scripts/build-web.mjs')).href)) as { buildWebApp: (dir: string) => Promise<string> };
  const app = await buildWebApp(join(ROOT, 'dist', 'web-app'));
  const dir = await mkdtemp(join(tmpdir(), 'facesense-bench-browser-'));
  const rows: BrowserBenchRow[] = [];
  const server = await startStaticServer({ mounts: { '/': [dir, app] } });
  let served = 0;
  server.server.on('request', (_req, res) => res.on('finish', () => (served += Number(res.getHeader('content-length') ?? 0))));
  const browserArgs = ['--no-sandbox', '--disable-dev-shm-usage', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];
  try {
    const y4m = join(dir, 'cam.y4m');
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-i', join(media, 'single_face.mp4'), '-t', '4', '-vf', 'scale=640:480,fps=30', '-pix_fmt', 'yuv420p', y4m]);
    await writeFile(join(dir, 'bench.html'), `<!doctype html><meta charset="utf-8"><script type="module">import * as f from '/index.js'; window.facesense = f; document.title = 'ready';</script>`);
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
      const runs = [
        ...(['expression only', 'all tasks'] as const).flatMap((label) => [1, 2].map((threads) => ({ label, threads, side: 640 }))),
        { label: 'expression only, detector input 320', threads: 1, side: 320 },
      ];
      for (const { label, threads, side } of runs) {
        {
          const tasks = label.startsWith('all') ? ALL : EXPRESSION;
          const r = (await page2.evaluate(`(${PAGE_LOOP})(${JSON.stringify({ tasks, threads, seconds: SECONDS, side })})`)) as { fps: number; n: number; faces: number; detectMs: number; inferMs: number; backend: { backend: string; threads: number } };
          rows.push({ bench: `browser 640×480 webcam, detect every frame, ${label}, WASM ${threads === 1 ? '1 thread' : `${threads} threads`}`, value: r.fps, unit: 'frames/s', note: `${r.n} frames, ${r.faces} face rows; detect ${r.detectMs.toFixed(1)} ms, infer ${r.inferMs.toFixed(1)} ms per frame; ${r.backend.backend}` });
        }
      }
      await page2.close();
    } finally {
      await browser.close();
    }
    // The same frames through the Node analyzer, in this run, for comparison.
    const frames: RgbImage[] = [];
    for await (const f of await openVideo(y4m)) {
      frames.push(f.image);
      if (frames.length >= 60) break;
    }
    for (const [label, tasks] of [['expression only', EXPRESSION], ['all tasks', ALL]] as const) {
      const r = await nodeFps(frames, tasks, SECONDS);
      rows.push({ bench: `Node 640×480 same frames, detect every frame, ${label}`, value: r.fps, unit: 'frames/s', note: `${r.n} frames; onnxruntime-node, default threads` });
    }
    const r320 = await nodeFps(frames, EXPRESSION, SECONDS, 320);
    rows.push({ bench: 'Node 640×480 same frames, detect every frame, expression only, detector input 320', value: r320.fps, unit: 'frames/s', note: `${r320.n} frames; onnxruntime-node, default threads` });
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = await benchBrowser(resolve(ROOT, '..', 'shared', 'media'));
  for (const r of rows) process.stdout.write(`| ${r.bench} | ${r.value.toFixed(1)} | ${r.unit} | ${r.note}\n`);
}
