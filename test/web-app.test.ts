/**
 * The web app in headless Chromium: a photo picked in the page gives the Node analyzer's faces and
 * labels (and its JSON download the probabilities within 1e-3), and a fake webcam playing a clip of
 * ../shared/media (y4m made by ffmpeg) gives one stable track with an expression on every frame.
 * With FACESENSE_SCREENSHOTS=DIR (`npm run web:screenshots`) the screenshots in the README are
 * written there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { Browser } from 'playwright-core';
import sharp from 'sharp';
import type { ImageResult } from '../src/core/analyzer.js';
import type { TaskResult } from '../src/core/postprocess.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { startStaticServer, type StaticServer } from '../src/node/static-server.js';
import { hasChromium, launchChromium } from './helpers/browser.js';
import { hasShared, media, tempDir } from './helpers/media.js';

const ROOT = process.cwd();
const SHOTS = process.env.FACESENSE_SCREENSHOTS;
const skip = !hasChromium ? 'needs /usr/bin/chromium (apt package chromium)' : !hasShared ? 'needs ../shared/media' : false;
let app: string;
let server: StaticServer;
let browser: Browser;
let y4m: string;
let webm: string;

before(async () => {
  if (skip) return;
  const { buildWebApp } = (await import(path.join(ROOT, 'scripts/build-web.mjs'))) as { buildWebApp: (dir: string) => Promise<string> };
  app = await buildWebApp(path.join(ROOT, 'dist', 'web-app'));
  server = await startStaticServer({ mounts: { '/': app } });
  y4m = path.join(await tempDir(), 'single_face.y4m');
  // 640×480 at 15 fps, 4 s: Chromium loops it as the camera.
  await promisify(execFile)('ffmpeg', ['-v', 'error', '-y', '-i', media('single_face.mp4'), '-t', '4', '-vf', 'scale=640:480,fps=15', '-pix_fmt', 'yuv420p', y4m]);
  // A VP8 WebM every Chromium build plays (H.264 depends on the build).
  webm = path.join(path.dirname(y4m), 'single_face.webm');
  await promisify(execFile)('ffmpeg', ['-v', 'error', '-y', '-i', media('single_face.mp4'), '-an', '-c:v', 'libvpx', '-b:v', '2M', webm]);
  browser = await launchChromium(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${y4m}`]);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const byX = (r: ImageResult) => [...r.faces].sort((a, b) => a.boxPx.x - b.boxPx.x);

test('photo picked in the web app: 5 faces, the Node analyzer\'s labels, JSON download within 1e-3', { skip, timeout: 300_000 }, async () => {
  const node = await createAnalyzer({ threads: 1, detectorResize: 'portable', models: ['emotion-ferplus', 'attributes-utkface'] });
  const expected = byX(await node.analyze(media('multi_face.jpg')));
  await node.dispose();

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  await page.goto(`${server.url}/?sw=0`);
  await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 240_000 });
  await page.setInputFiles('#files', media('multi_face.jpg'));
  await page.waitForSelector('figure[data-source="multi_face.jpg"] canvas', { timeout: 120_000 });
  assert.equal(await page.locator('#table tbody tr').count(), 5);
  const download = page.waitForEvent('download');
  await page.click('#json');
  const file = await (await download).path();
  const items = JSON.parse(await readFile(file, 'utf8')) as (ImageResult & { ok: boolean })[];
  assert.equal(items.length, 1);
  const got = byX(items[0]!);
  assert.equal(got.length, 5);
  got.forEach((face, i) => {
    for (const [task, want] of Object.entries(expected[i]!.attributes) as [string, TaskResult][]) {
      const have = face.attributes[task]!;
      if (want.kind === 'class' && have.kind === 'class') assert.equal(have.label, want.label, `face ${i} ${task}`);
      const ws = 'scores' in want ? want.scores : {};
      const hs = 'scores' in have ? have.scores : {};
      for (const [label, p] of Object.entries(ws ?? {})) assert.ok(Math.abs(hs![label]! - p) <= 1e-3, `face ${i} ${task} ${label}: ${hs![label]} vs ${p}`);
    }
  });
  // The table shows each face's expression label as Node computes it.
  const shown = await page.locator('#table tbody tr td:nth-child(4)').allTextContents();
  const want = [...got].map((f) => (f.attributes.emotion?.kind === 'class' ? f.attributes.emotion.label : ''));
  assert.deepEqual(shown.map((s) => s.split(' ')[0]).sort(), want.sort());
  if (SHOTS !== undefined) await page.screenshot({ path: path.join(SHOTS, 'web-photo.png'), fullPage: true });
  await page.close();
});

test('fake webcam (y4m of single_face.mp4): one stable track with an expression on every frame', { skip, timeout: 300_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
  await page.goto(`${server.url}/?sw=0&tasks=emotion`);
  await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 240_000 });
  await page.click('button[data-tab="webcam"]');
  await page.click('#cam-start');
  await page.waitForFunction('(window.facesenseLive?.history.length ?? 0) >= 40', undefined, { timeout: 240_000 });
  if (SHOTS !== undefined) await page.screenshot({ path: path.join(SHOTS, 'web-webcam.png') });
  const history = (await page.evaluate('window.facesenseLive.history')) as { timestampMs: number; tracks: { id: number; emotion?: string; score?: number }[] }[];
  const fps = (await page.evaluate('window.facesenseLive.fps')) as number;
  await page.click('#cam-stop');
  await page.close();
  // The clip's first frames may precede the face; from the first face on, exactly one track, never replaced.
  const start = history.findIndex((h) => h.tracks.length > 0);
  assert.ok(start >= 0 && start < 10, `a face within the first frames (first at ${start})`);
  const frames = history.slice(start);
  const ids = new Set(frames.flatMap((h) => h.tracks.map((t) => t.id)));
  assert.equal(ids.size, 1, `one track id over ${frames.length} frames, got ${[...ids].join(', ')}`);
  const withFace = frames.filter((h) => h.tracks.length === 1 && h.tracks[0]!.emotion !== undefined);
  assert.ok(withFace.length >= 0.95 * frames.length, `${withFace.length} of ${frames.length} frames have the track's expression`);
  for (let i = 1; i < frames.length; i++) assert.ok(frames[i]!.timestampMs >= frames[i - 1]!.timestampMs);
  const labels = new Map<string, number>();
  for (const h of withFace) labels.set(h.tracks[0]!.emotion!, (labels.get(h.tracks[0]!.emotion!) ?? 0) + 1);
  console.log(`fake webcam: ${frames.length} frames, track ${[...ids][0]}, expressions ${JSON.stringify(Object.fromEntries(labels))}, ${fps.toFixed(1)} fps`);
});

test('video file in the web app: sampled frames, one track, a timeline and CSV rows', { skip, timeout: 300_000 }, async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  await page.goto(`${server.url}/?sw=0&tasks=emotion`);
  await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 240_000 });
  await page.click('button[data-tab="video"]');
  await page.setInputFiles('#video-file', webm);
  await page.waitForFunction('window.facesenseApp.video !== undefined', undefined, { timeout: 240_000 });
  const video = (await page.evaluate('window.facesenseApp.video')) as { frames: number; tracks: { trackId: number; frames: number; tasks: Record<string, { kind: string; dominant?: string }> }[] };
  assert.ok(video.frames >= 12, `the 2.43 s clip at 5 frames/s: ${video.frames} frames`);
  assert.equal(video.tracks.length, 1, 'one face, one track');
  assert.ok(video.tracks[0]!.frames >= video.frames - 1);
  assert.equal(video.tracks[0]!.tasks.emotion?.kind, 'class');
  assert.ok(await page.frameLocator('#timeline').locator('svg').count() >= 1, 'the timeline chart is drawn');
  const download = page.waitForEvent('download');
  await page.click('#video-csv');
  const csv = (await readFile(await (await download).path(), 'utf8')).trim().split('\n');
  assert.ok(csv[0]!.startsWith('frame,time_ms,track'));
  assert.equal(csv.length - 1, video.tracks[0]!.frames, 'one CSV row per tracked face per frame');
  if (SHOTS !== undefined) await page.screenshot({ path: path.join(SHOTS, 'web-video.png'), fullPage: true });
  await page.close();
});

interface DrawnLabel { rect: { x: number; y: number; width: number; height: number }; lines: string[]; unreliable: boolean }

test('photo overlay: the shared label layout (inside the frame, no overlaps) and unreliable faces flagged with their reasons', { skip, timeout: 300_000 }, async () => {
  // The left part blurred, so the quality flags mark the faces there (x < 400) and not the others.
  const file = path.join(await tempDir(), 'multi_face_blurred.jpg');
  const { height } = await sharp(media('multi_face.jpg')).metadata();
  const left = await sharp(media('multi_face.jpg')).extract({ left: 0, top: 0, width: 480, height: height! }).blur(5).toBuffer();
  await writeFile(file, await sharp(media('multi_face.jpg')).composite([{ input: left, left: 0, top: 0 }]).jpeg({ quality: 92 }).toBuffer());
  const node = await createAnalyzer({ threads: 1, detectorResize: 'portable', models: ['emotion-ferplus', 'attributes-utkface'] });
  const expected = await node.analyze(file);
  await node.dispose();
  const flagged = expected.faces.filter((f) => f.quality?.reliable === false);
  assert.ok(flagged.length > 0 && flagged.length < expected.faces.length, `a mix of reliable and unreliable faces (${flagged.length} of ${expected.faces.length} flagged)`);

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${server.url}/?sw=0`);
  await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 240_000 });
  await page.setInputFiles('#files', file);
  const canvas = page.locator('figure[data-source="multi_face_blurred.jpg"] canvas');
  await canvas.waitFor({ timeout: 120_000 });
  const drawn = JSON.parse((await canvas.getAttribute('data-labels'))!) as DrawnLabel[];
  // A canvas's width and height properties are reflected as attributes.
  const size = { width: Number(await canvas.getAttribute('width')), height: Number(await canvas.getAttribute('height')) };
  assert.ok(size.width > 0 && size.height > 0);
  assert.match((await canvas.getAttribute('aria-label'))!, /unreliable: blur/);
  await page.close();

  assert.equal(drawn.length, expected.faces.length);
  assert.deepEqual(drawn.map((d) => d.unreliable).filter(Boolean).length, flagged.length, 'as many faces drawn as unreliable as the Node analyzer flags');
  for (const d of drawn) {
    if (d.unreliable) assert.match(d.lines[0]!, /^unreliable: (yaw|tiny|blur|low-score)/, `the reason comes first: ${d.lines.join(' | ')}`);
    else assert.ok(!d.lines.some((l) => l.startsWith('unreliable')));
    const r = d.rect;
    assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.width <= size.width + 1e-6 && r.y + r.height <= size.height + 1e-6, `label inside the frame: ${JSON.stringify(r)}`);
  }
  for (let i = 0; i < drawn.length; i++) {
    for (let j = i + 1; j < drawn.length; j++) {
      const a = drawn[i]!.rect;
      const b = drawn[j]!.rect;
      const apart = a.x + a.width <= b.x || b.x + b.width <= a.x || a.y + a.height <= b.y || b.y + b.height <= a.y;
      assert.ok(apart, `labels ${i} and ${j} do not overlap: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
    }
  }
});

test('offline after the first visit: the service worker and the model cache serve a reload with the network off; multi_face.jpg still gives 5 faces', { skip, timeout: 300_000 }, async () => {
  // Its own server, closed once the browser is offline: Chromium's offline emulation does not
  // cover every request (a service worker's update check can still go out), a closed port does.
  const own = await startStaticServer({ mounts: { '/': app } });
  let closed = false;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();
    await page.goto(`${own.url}/`);
    await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 240_000 });
    // Installed (everything in precache.json cached) and in control of the page.
    await page.waitForFunction('navigator.serviceWorker.controller !== null', undefined, { timeout: 120_000 });
    await context.setOffline(true);
    await own.close();
    closed = true;
    // The network really is off for the page.
    assert.equal(await page.evaluate(`fetch('/no-such-file-${Date.now()}').then(() => 'reached', () => 'failed')`), 'failed');
    await page.reload();
    await page.waitForFunction('document.getElementById("status").textContent.startsWith("Ready")', undefined, { timeout: 240_000 });
    await page.setInputFiles('#files', media('multi_face.jpg'));
    await page.waitForSelector('figure[data-source="multi_face.jpg"] canvas', { timeout: 120_000 });
    assert.equal(await page.locator('#table tbody tr').count(), 5);
  } finally {
    await context.close();
    if (!closed) await own.close();
  }
});
