/**
 * The facesense web app: photos (drop or pick, annotated, table, CSV/JSON as the CLI writes them)
 * and a live webcam (tracks, smoothed expression bars, fps and per-stage latency), on
 * facesense/web. Nothing is uploaded anywhere.
 */
import { csvHeader, csvLine, csvRows, itemToJson } from '../src/core/format.js';
import { videoCsvHeader, videoCsvRow } from '../src/core/video/rows.js';
import { createSummaryAccumulator } from '../src/core/video/summary.js';
import { timelineHtml } from '../src/core/video/timeline.js';
import { createAnalyzer, createFrameAnalyzer, FacesenseError, grabFrame, grabFrameAsync, type BatchItem, type FrameAnalyzer, type FrameResult, type TaskResult, type WebAnalyzer } from '../src/web/index.js';
import { drawFaces, faceLabel } from './draw.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ALL_TASKS = ['emotion', 'age', 'gender', 'ethnicity', 'glasses', 'beard', 'moustache'];
const params = new URLSearchParams(location.search);
const backendWanted = params.get('backend') === 'webgpu' ? 'webgpu' : 'wasm';

interface AppState {
  analyzer?: WebAnalyzer | undefined;
  tasks: string[];
  items: BatchItem[];
  detectorInputSide?: number;
  /** Explicit models (the webcam's expression model choice); empty: the defaults. */
  models?: string[];
  loadMs?: number;
  firstResultMs?: number;
  /** The last analysed video file: its name, frames and per-track summary. */
  video?: { source: string; frames: number; tracks: ReturnType<ReturnType<typeof createSummaryAccumulator>['tracks']> };
}
const state: AppState = { tasks: params.get('tasks')?.split(',') ?? ALL_TASKS, items: [] };
// For tests, screenshots and the console: the app's state, read-only by convention.
(window as unknown as { facesenseApp: AppState }).facesenseApp = state;

function setStatus(text: string): void {
  $('status').textContent = text;
}

/**
 * The app runs the float models, not Node's int8 defaults: onnxruntime-web's quantized kernels
 * round differently from onnxruntime-node's (probabilities up to ~4e-3 apart on multi_face.jpg),
 * while the float models agree within 1e-3 (test/web-app.test.ts). `chosen` (the webcam's
 * expression model) answers emotion first.
 */
const ATTRIBUTE_TASKS = ['age', 'gender', 'ethnicity', 'glasses', 'beard', 'moustache'];
function browserModels(tasks: readonly string[], chosen: readonly string[]): string[] {
  const models = [...chosen];
  if (tasks.includes('emotion') && chosen.length === 0) models.push('emotion-ferplus');
  if (tasks.some((t) => ATTRIBUTE_TASKS.includes(t))) models.push('attributes-utkface');
  return models;
}

async function loadAnalyzer(tasks: readonly string[], detectorInputSide = 640, models: readonly string[] = []): Promise<WebAnalyzer> {
  const t0 = performance.now();
  const bytes = new Map<string, { loaded: number; total: number }>();
  const progress = $<HTMLProgressElement>('progress');
  await state.analyzer?.dispose();
  state.analyzer = undefined;
  const a = await createAnalyzer({
    modelBaseUrl: new URL('models/', location.href).href,
    tasks,
    detectorInputSide,
    models: browserModels(tasks, models),
    backend: backendWanted,
    onProgress: (e) => {
      bytes.set(e.url, { loaded: e.loadedBytes, total: e.totalBytes ?? e.loadedBytes });
      const loaded = [...bytes.values()].reduce((s, b) => s + b.loaded, 0);
      const total = [...bytes.values()].reduce((s, b) => s + b.total, 0);
      progress.value = total === 0 ? 0 : loaded / total;
      setStatus(`${e.cached ? 'Reading cached' : 'Downloading'} models: ${(loaded / 1e6).toFixed(1)} / ${(total / 1e6).toFixed(1)} MB`);
    },
  });
  state.analyzer = a;
  state.detectorInputSide = detectorInputSide;
  state.models = [...models];
  state.loadMs = performance.now() - t0;
  progress.value = 1;
  const b = a.backend;
  setStatus(`Ready in ${(state.loadMs / 1000).toFixed(1)} s: ${a.tasks.map((t) => t.task).join(', ')} on ${b.backend}${b.threads > 1 ? ` with ${b.threads} threads` : ''}${b.fallback === undefined ? '' : ` (${b.fallback})`}.`);
  $('backend').textContent = `Inference: onnxruntime-web ${b.backend}, ${b.threads} thread(s), page ${b.crossOriginIsolated ? 'is' : 'is not'} cross-origin isolated${b.fallback === undefined ? '' : `; ${b.fallback}`}. Detector: ${a.detectorName} (YuNet 2023mar, OpenCV Zoo, Apache-2.0).`;
  return a;
}

// ---------- photos ----------

async function analyseFiles(files: readonly File[]): Promise<void> {
  const a = state.analyzer ?? (await loadAnalyzer(state.tasks));
  for (const file of files) {
    setStatus(`Analysing ${file.name}…`);
    let item: BatchItem;
    try {
      const t0 = performance.now();
      const result = await a.analyze(file, { sourceName: file.name });
      state.firstResultMs ??= performance.now() - t0;
      item = { ok: true, source: file.name, result };
    } catch (e) {
      if (!(e instanceof FacesenseError)) throw e;
      item = { ok: false, source: file.name, error: e };
    }
    state.items.push(item);
    await showItem(item, file);
  }
  ($('csv') as HTMLButtonElement).disabled = ($('json') as HTMLButtonElement).disabled = state.items.length === 0;
  const faces = state.items.reduce((n, it) => n + (it.ok ? it.result.faces.length : 0), 0);
  setStatus(`${state.items.length} image(s), ${faces} face(s) analysed in this page.`);
}

function cell(r: TaskResult | undefined): string {
  if (r === undefined) return '';
  if (r.kind === 'class') return `${r.label} (${r.score.toFixed(3)})`;
  if (r.kind === 'value') return r.value.toFixed(1);
  return '';
}

async function showItem(item: BatchItem, file: File): Promise<void> {
  const fig = document.createElement('figure');
  const caption = document.createElement('figcaption');
  fig.dataset.source = item.source;
  if (!item.ok) {
    caption.textContent = `${item.source}: ${item.error.code} — ${item.error.message}`;
    fig.append(caption);
    $('photos').append(fig);
    return;
  }
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const faces = item.result.faces;
  const drawn = drawFaces(ctx, faces.map((face, i) => ({ face, label: faceLabel(face, face.attributes, `${i + 1}: `) })));
  // The labels as text too: for screen readers, and for the tests to check the layout.
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', drawn.map((d) => d.lines.join(' — ')).join('; '));
  canvas.dataset.labels = JSON.stringify(drawn);
  caption.textContent = `${item.source}: ${faces.length} face(s), ${item.result.timings.totalMs.toFixed(0)} ms`;
  fig.append(canvas, caption);
  $('photos').append(fig);
  const body = $('table').querySelector('tbody')!;
  faces.forEach((f, i) => {
    const tr = document.createElement('tr');
    const b = f.boxPx;
    const pose = f.pose === undefined ? '' : `${f.pose.yawDeg.toFixed(0)} / ${f.pose.pitchDeg.toFixed(0)} / ${f.alignment.rollDeg.toFixed(0)}`;
    const cells = [item.source, String(i + 1), `${b.x.toFixed(0)}, ${b.y.toFixed(0)}, ${b.width.toFixed(0)}, ${b.height.toFixed(0)}`, ...['emotion', 'age', 'gender', 'ethnicity', 'glasses', 'beard', 'moustache'].map((t) => cell(f.attributes[t])), pose];
    for (const c of cells) {
      const td = document.createElement('td');
      td.textContent = c;
      tr.append(td);
    }
    body.append(tr);
  });
}

function download(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function setupPhotos(): void {
  const input = $<HTMLInputElement>('files');
  input.addEventListener('change', () => void analyseFiles([...(input.files ?? [])]).catch(showError));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void analyseFiles([...(e.dataTransfer?.files ?? [])].filter((f) => f.type.startsWith('image/'))).catch(showError);
  });
  $('csv').addEventListener('click', () => {
    const tasks = state.analyzer?.tasks ?? [];
    const lines = [csvLine(csvHeader(tasks)), ...state.items.flatMap((it) => csvRows(it, tasks).map(csvLine))];
    download('facesense.csv', 'text/csv', lines.join('\n') + '\n');
  });
  $('json').addEventListener('click', () => download('facesense.json', 'application/json', JSON.stringify(state.items.map(itemToJson), null, 2)));
}

// ---------- webcam ----------

interface Live {
  stream: MediaStream;
  frames: FrameAnalyzer;
  running: boolean;
  done: number;
  fpsSince: number;
  fps: number;
  last?: FrameResult;
  /** Per frame: time and each track's smoothed expression (the last 10 minutes at 30 fps). */
  history: { timestampMs: number; tracks: { id: number; emotion?: string; score?: number }[] }[];
}
let live: Live | undefined;

function bars(result: FrameResult): void {
  const box = $('bars');
  box.replaceChildren();
  for (const f of result.faces) {
    const div = document.createElement('div');
    div.className = 'track';
    div.dataset.track = String(f.trackId);
    const title = document.createElement('strong');
    title.textContent = `Track ${f.trackId}`;
    div.append(title);
    const emotion = f.smoothed.emotion;
    if (emotion?.kind === 'class') {
      for (const [label, p] of Object.entries(emotion.scores).sort((x, y) => y[1] - x[1])) {
        const row = document.createElement('div');
        row.className = 'bar';
        const name = document.createElement('span');
        name.textContent = label;
        const fill = document.createElement('span');
        fill.className = 'fill';
        fill.style.width = `${Math.round(p * 150)}px`;
        const pct = document.createElement('span');
        pct.textContent = `${Math.round(p * 100)}%`;
        row.append(name, fill, pct);
        div.append(row);
      }
    }
    box.append(div);
  }
}

async function liveLoop(l: Live): Promise<void> {
  const video = $<HTMLVideoElement>('video');
  const overlay = $<HTMLCanvasElement>('overlay');
  // Pipelined: the next frame is grabbed and queued while the current one is analysed in the
  // worker, so the worker never waits for the page (the overlay is one frame behind).
  let pending: Promise<FrameResult> | undefined;
  while (l.running) {
    if (video.readyState < 2) {
      await new Promise((r) => setTimeout(r, 30));
      continue;
    }
    // WebCodecs where the browser has it (half the canvas readback's cost in npm run bench).
    const next = l.frames.analyzeFrame(await grabFrameAsync(video), performance.now());
    if (pending === undefined) {
      pending = next;
      continue;
    }
    const result = await pending;
    pending = next;
    if (!l.running) break;
    l.last = result;
    l.done++;
    l.history.push({ timestampMs: result.timestampMs, tracks: result.faces.map((f) => (f.smoothed.emotion?.kind === 'class' ? { id: f.trackId, emotion: f.smoothed.emotion.label, score: f.smoothed.emotion.score } : { id: f.trackId })) });
    if (l.history.length > 18_000) l.history.shift();
    const now = performance.now();
    if (now - l.fpsSince >= 1000) {
      l.fps = (l.done * 1000) / (now - l.fpsSince);
      l.done = 0;
      l.fpsSince = now;
      $('fps').textContent = `${l.fps.toFixed(1)} fps`;
    }
    const t = result.timings;
    $('latency').textContent = `decode ${t.decodeMs.toFixed(1)} · detect ${t.detectMs.toFixed(1)} · align ${t.alignMs.toFixed(1)} · infer ${t.inferMs.toFixed(1)} ms${result.detectionRan ? '' : ' (track-only frame)'}`;
    overlay.width = result.widthPx;
    overlay.height = result.heightPx;
    const ctx = overlay.getContext('2d')!;
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    drawFaces(ctx, result.faces.map((f) => ({ face: f, label: faceLabel(f, f.smoothed, `#${f.trackId} `) })));
    bars(result);
  }
  // The frame queued last is still in the worker: let it finish (its result is not drawn).
  await pending?.catch(() => undefined);
}

async function listCameras(): Promise<void> {
  const select = $<HTMLSelectElement>('cam-device');
  const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput');
  select.replaceChildren(...devices.map((d, i) => Object.assign(document.createElement('option'), { value: d.deviceId, textContent: d.label || `camera ${i + 1}` })));
}

async function startCamera(): Promise<void> {
  const wanted = [...document.querySelectorAll<HTMLInputElement>('#task-toggles input:checked')].map((i) => i.value);
  const side = Number($<HTMLSelectElement>('detector-side').value);
  const fast = $<HTMLSelectElement>('emotion-model').value;
  const models = fast === '' || !wanted.includes('emotion') ? [] : [fast];
  if (state.analyzer === undefined || side !== state.detectorInputSide || models.join() !== (state.models ?? []).join() || wanted.join() !== state.analyzer.tasks.map((t) => t.task).join()) await loadAnalyzer(wanted, side, models);
  const deviceId = $<HTMLSelectElement>('cam-device').value;
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480, ...(deviceId === '' ? {} : { deviceId: { exact: deviceId } }) }, audio: false });
  const video = $<HTMLVideoElement>('video');
  video.srcObject = stream;
  await video.play();
  await listCameras();
  const detectEvery = Math.max(1, Number($<HTMLInputElement>('detect-every').value) || 1);
  live = { stream, frames: createFrameAnalyzer(state.analyzer!, { detectEvery }), running: true, done: 0, fpsSince: performance.now(), fps: 0, history: [] };
  (window as unknown as { facesenseLive: Live }).facesenseLive = live;
  $<HTMLButtonElement>('cam-start').disabled = true;
  $<HTMLButtonElement>('cam-stop').disabled = false;
  void liveLoop(live).catch(showError);
}

function stopCamera(): void {
  if (live === undefined) return;
  live.running = false;
  for (const t of live.stream.getTracks()) t.stop();
  $<HTMLButtonElement>('cam-start').disabled = false;
  $<HTMLButtonElement>('cam-stop').disabled = true;
}

function setupWebcam(): void {
  const toggles = $('task-toggles');
  for (const t of ALL_TASKS) {
    const label = document.createElement('label');
    const box = Object.assign(document.createElement('input'), { type: 'checkbox', value: t, checked: state.tasks.includes(t) });
    label.append(box, ` ${t} `);
    toggles.append(label);
  }
  $('cam-start').addEventListener('click', () => void startCamera().catch(showError));
  $('cam-stop').addEventListener('click', stopCamera);
  void listCameras().catch(() => undefined);
}

// ---------- video file ----------

async function analyseVideo(file: File): Promise<void> {
  const a = state.analyzer ?? (await loadAnalyzer(state.tasks));
  const video = $<HTMLVideoElement>('video-src');
  const status = $('video-status');
  const url = URL.createObjectURL(file);
  try {
    video.src = url;
    await new Promise<void>((resolve, reject) => {
      video.onloadeddata = () => resolve();
      video.onerror = () => reject(new Error(`this browser cannot play ${file.name}`));
    });
    const fps = Math.max(1, Number($<HTMLInputElement>('video-fps').value) || 5);
    const frames = createFrameAnalyzer(a, { detectEvery: 1 });
    const summary = createSummaryAccumulator();
    const tasks = a.tasks;
    const lines = [csvLine(videoCsvHeader(tasks))];
    const duration = video.duration;
    let n = 0;
    for (let i = 0; i / fps < duration; i++) {
      const t = i / fps;
      video.currentTime = t;
      await new Promise((resolve) => (video.onseeked = resolve));
      const r = await frames.analyzeFrame(grabFrame(video), Math.round(t * 1000));
      summary.add(r);
      for (const f of r.faces) lines.push(csvLine(videoCsvRow(r, f, tasks)));
      n++;
      status.textContent = `${file.name}: ${n} frames, ${t.toFixed(1)} / ${duration.toFixed(1)} s`;
    }
    const tracks = summary.tracks();
    state.video = { source: file.name, frames: n, tracks };
    status.textContent = `${file.name}: ${n} frames sampled at ${fps}/s, ${tracks.length} track(s).`;
    const frame = $<HTMLIFrameElement>('timeline');
    frame.srcdoc = timelineHtml({ source: file.name, durationMs: duration * 1000, smoothing: 'ema:0.3', tracks, timelines: summary.timelines() });
    frame.hidden = false;
    const csv = $<HTMLButtonElement>('video-csv');
    csv.disabled = false;
    csv.onclick = () => download(`${file.name}.csv`, 'text/csv', lines.join('\n') + '\n');
  } finally {
    URL.revokeObjectURL(url);
  }
}

function setupVideo(): void {
  const input = $<HTMLInputElement>('video-file');
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file !== undefined) void analyseVideo(file).catch(showError);
  });
}

// ---------- models ----------

interface ModelInfo {
  id: string;
  manifest: { description?: string; licence?: string; training?: { data?: string; terms?: string }; metrics?: Record<string, number> };
  card: string;
}

async function showModels(): Promise<void> {
  const models = (await (await fetch('models/index.json')).json()) as ModelInfo[];
  const box = $('models');
  for (const m of models) {
    const div = document.createElement('div');
    div.className = 'model';
    const summary = m.card.split('\n\n').find((p) => !p.startsWith('#'))?.replace(/\n/g, ' ') ?? '';
    const metrics = Object.entries(m.manifest.metrics ?? {}).filter(([k]) => /test_(acc|balanced_acc|macro_f1|mae)$/.test(k));
    const h = document.createElement('h3');
    h.textContent = m.id;
    const p = document.createElement('p');
    p.textContent = summary;
    const acc = document.createElement('p');
    acc.textContent = metrics.length === 0 ? 'Accuracy: see the model card.' : `Test-set accuracy (from the manifest): ${metrics.map(([k, v]) => `${k} ${v < 1 ? (v * 100).toFixed(1) + '%' : v.toFixed(2)}`).join(', ')}`;
    const terms = document.createElement('p');
    terms.className = 'note';
    terms.textContent = `Terms: ${m.manifest.licence ?? 'see card'}${m.manifest.training?.terms === undefined ? '' : ` — ${m.manifest.training.terms}`}`;
    div.append(h, p, acc, terms);
    box.append(div);
  }
}

function showError(e: unknown): void {
  setStatus(`Error: ${e instanceof Error ? e.message : String(e)}`);
  console.error(e);
}

function setupTabs(): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) {
    b.addEventListener('click', () => {
      for (const x of document.querySelectorAll('nav button, .tab')) x.classList.remove('active');
      b.classList.add('active');
      $(`tab-${b.dataset.tab}`).classList.add('active');
    });
  }
}

setupTabs();
setupPhotos();
setupWebcam();
setupVideo();
void showModels().catch(showError);
void loadAnalyzer(state.tasks).catch(showError);
if ('serviceWorker' in navigator && params.get('sw') !== '0') void navigator.serviceWorker.register('sw.js').catch(() => undefined);
