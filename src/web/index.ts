/**
 * `facesense/web`: the facesense pipeline in a browser, on onnxruntime-web, with the same models,
 * manifests and result objects as in Node. Inference runs in a Web Worker by default.
 */
import { createAnalyzerWith, type Analyzer, type AnalyzeOptions, type BatchItem, type CropItem, type CropOptions, type ImageResult, type StageTimings } from '../core/analyzer.js';
import { DEFAULT_DECODE_OPTIONS } from '../core/platform.js';
import { FacesenseError, OptionError } from '../core/errors.js';
import { createLifecycle } from '../core/lifecycle.js';
import type { TaskResult } from '../core/postprocess.js';
import type { RawImage, RgbImage } from '../core/types.js';
import { checkAnalyzeOptions } from '../core/validate.js';
import { decodeWebImage, pixelsOf, type WebImageInput } from './decode.js';
import { isRawImage } from '../core/raw-image.js';
import type { WebDownloadProgress } from './model-source.js';
import type { WebBackendInfo, WebPlatformOptions } from './platform.js';
import { reviveError, type FromWorker, type PortableAnalyzerOptions, type ReadyInfo, type ToWorker } from './protocol.js';

export interface WebAnalyzerOptions extends PortableAnalyzerOptions, Omit<WebPlatformOptions, 'onProgress'> {
  /** Run inference in a Web Worker (the page stays responsive). @default true */
  readonly worker?: boolean;
  /** URL of the worker script (`facesense/web/worker`). @default `./worker.js` beside this module */
  readonly workerUrl?: string | URL;
  /** Called while model files download (or are read from the cache). */
  readonly onProgress?: (event: WebDownloadProgress) => void;
}

export interface WebAnalyzer extends Analyzer<WebImageInput> {
  /** The execution provider and threads in use, and why WebGPU was not used when it was asked for. */
  readonly backend: WebBackendInfo;
}

function withDecodeMs(t: StageTimings, decodeMs: number): StageTimings {
  return { ...t, decodeMs: t.decodeMs + decodeMs, totalMs: t.totalMs + decodeMs };
}

function withDecode(result: ImageResult, decodeMs: number): ImageResult {
  return { ...result, timings: withDecodeMs(result.timings, decodeMs) };
}

/** Creates an analyzer in the page; models come from `modelBaseUrl`. */
export async function createAnalyzer(options: WebAnalyzerOptions): Promise<WebAnalyzer> {
  const { worker = true, workerUrl, onProgress, modelBaseUrl, backend, wasmPaths, threads, cacheName, ...analyzerOptions } = options;
  if (typeof modelBaseUrl !== 'string' || modelBaseUrl === '') throw new OptionError('modelBaseUrl must be the URL the model files are served from, e.g. "/models/"');
  const platformOptions = { modelBaseUrl, ...(backend === undefined ? {} : { backend }), ...(wasmPaths === undefined ? {} : { wasmPaths }), ...(threads === undefined ? {} : { threads }), ...(cacheName === undefined ? {} : { cacheName }) };
  if (!worker) {
    const { webPlatform } = await import('./platform.js');
    const { platform, info } = await webPlatform({ ...platformOptions, ...(onProgress === undefined ? {} : { onProgress }) });
    const a = await createAnalyzerWith(platform, analyzerOptions);
    return { ...a, backend: info };
  }
  return workerAnalyzer(new Worker(workerUrl ?? new URL('./worker.js', import.meta.url), { type: 'module' }), platformOptions, analyzerOptions, onProgress);
}

async function workerAnalyzer(w: Worker, platform: Omit<WebPlatformOptions, 'onProgress'>, analyzerOptions: PortableAnalyzerOptions, onProgress: ((e: WebDownloadProgress) => void) | undefined): Promise<WebAnalyzer> {
  const pending = new Map<number, { resolve: (m: FromWorker) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  // In-flight calls, DISPOSED and ABORTED as in the core analyzer (an AbortSignal cannot cross
  // postMessage, so it is checked here, between the page's stages and the worker's reply).
  const life = createLifecycle();
  const ready = new Promise<ReadyInfo>((resolve, reject) => {
    w.addEventListener('message', (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      if (m.type === 'ready') resolve(m.info);
      else if (m.type === 'progress') onProgress?.(m.event);
      else if (m.type === 'error' && m.id === undefined) reject(reviveError(m.error));
      else if ('id' in m && m.id !== undefined) {
        const p = pending.get(m.id);
        pending.delete(m.id);
        if (m.type === 'error') p?.reject(reviveError(m.error));
        else p?.resolve(m);
      }
    });
    w.addEventListener('error', (e) => reject(new Error(`the facesense worker failed to start (${e.message}); check workerUrl`)));
  });
  w.postMessage({ type: 'init', platform, analyzer: analyzerOptions } satisfies ToWorker);
  let info: ReadyInfo;
  try {
    info = await ready;
  } catch (e) {
    w.terminate();
    throw e;
  }

  const call = (msg: ToWorker, transfer: Transferable[] = []): Promise<FromWorker> =>
    new Promise((resolve, reject) => {
      pending.set((msg as { id: number }).id, { resolve, reject });
      w.postMessage(msg, transfer);
    });
  // A copy the worker may own: the caller's buffer is never detached.
  const toRaw = (rgb: RgbImage): RawImage => ({ data: rgb.data.slice(), width: rgb.width, height: rgb.height, channels: 3 });

  function analyze(input: WebImageInput, opts: AnalyzeOptions = {}): Promise<ImageResult> {
    return life.run(async () => {
      checkAnalyzeOptions(opts);
      const { signal, ...portable } = opts;
      const sourceName = typeof input === 'string' ? input : (opts.sourceName ?? '<image>');
      life.checkAborted(signal, sourceName);
      const t0 = performance.now();
      const rgb = await decodeWebImage(input, { pixelLimit: analyzerOptions.pixelLimit ?? DEFAULT_DECODE_OPTIONS.pixelLimit, sourceName });
      const decodeMs = performance.now() - t0;
      life.checkAborted(signal, sourceName);
      // RGBA/gray input was converted into a fresh buffer the page alone holds: send that one.
      // (RGB pixels of the caller's, ImageData included, share its buffer: those are copied.)
      const shared = isRawImage(input) && rgb.data.buffer === input.data.buffer;
      const image: RawImage = shared ? toRaw(rgb) : { data: rgb.data, width: rgb.width, height: rgb.height, channels: 3 };
      const m = await call({ type: 'analyze', id: nextId++, image, options: { ...portable, sourceName } }, [image.data.buffer as ArrayBuffer]);
      if (m.type !== 'result') throw new Error(`unexpected worker reply ${m.type}`);
      life.checkAborted(signal, sourceName);
      return withDecode(m.result, decodeMs);
    });
  }

  async function* analyzeMany(inputs: Iterable<WebImageInput> | AsyncIterable<WebImageInput>, opts: AnalyzeOptions & { concurrency?: number } = {}): AsyncGenerator<BatchItem> {
    life.checkOpen();
    checkAnalyzeOptions(opts);
    if (inputs === null || typeof inputs !== 'object' || !(Symbol.iterator in inputs || Symbol.asyncIterator in inputs)) {
      throw new OptionError('analyzeMany needs an iterable or async iterable of inputs');
    }
    let i = 0;
    // One worker runs one image at a time, so inputs are taken in order, one after another
    // (nothing is left in flight when the caller stops early or the inputs throw).
    for await (const input of inputs) {
      if (opts.signal?.aborted === true) break;
      const source = typeof input === 'string' ? input : `${opts.sourceName ?? '<input>'}#${i}`;
      i++;
      try {
        yield { ok: true, source, result: await analyze(input, { ...opts, sourceName: source }) };
      } catch (e) {
        if (!(e instanceof FacesenseError)) throw e;
        yield { ok: false, source, error: e };
      }
    }
    life.checkAborted(opts.signal, opts.sourceName ?? '<batch>');
  }

  async function classifyCrops(crops: readonly WebImageInput[], opts: CropOptions = {}): Promise<Record<string, TaskResult>[]> {
    const items = await classifyCropsSettled(crops, opts);
    const bad = items.find((it) => !it.ok);
    if (bad !== undefined && !bad.ok) throw bad.error;
    return items.map((it) => (it.ok ? it.attributes : {}));
  }

  function classifyCropsSettled(crops: readonly WebImageInput[], opts: CropOptions = {}): Promise<CropItem[]> {
    return life.run(async () => {
      if (!Array.isArray(crops)) throw new OptionError('classifyCrops needs an array of inputs');
      checkAnalyzeOptions(opts);
      if (opts.onTimings !== undefined && typeof opts.onTimings !== 'function') throw new OptionError('onTimings must be a function');
      const pixelLimit = analyzerOptions.pixelLimit ?? DEFAULT_DECODE_OPTIONS.pixelLimit;
      const t0 = performance.now();
      const settled = await Promise.allSettled(crops.map(async (c, j) => toRaw(await decodeWebImage(c, { pixelLimit, sourceName: typeof c === 'string' ? c : `<crop ${j}>` }))));
      const decodeMs = performance.now() - t0;
      const images = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const m = await call({ type: 'crops', id: nextId++, images, ...(opts.tta === undefined ? {} : { tta: opts.tta }) }, images.map((im) => im.data.buffer as ArrayBuffer));
      if (m.type !== 'crops') throw new Error(`unexpected worker reply ${m.type}`);
      // The worker's stage timings, with the page's decoding added (as analyze does).
      if (m.timings !== undefined) opts.onTimings?.(withDecodeMs(m.timings, decodeMs));
      let k = 0;
      return settled.map((r, j): CropItem => {
        if (r.status === 'fulfilled') return { ok: true, attributes: m.results[k++]! };
        if (r.reason instanceof FacesenseError) return { ok: false, source: r.reason.source ?? `<crop ${j}>`, error: r.reason };
        throw r.reason; // a bug, not bad input
      });
    });
  }

  function dispose(): Promise<void> {
    return life.dispose(async () => {
      try {
        await call({ type: 'dispose', id: nextId++ });
      } finally {
        w.terminate();
        for (const p of pending.values()) p.reject(new FacesenseError('DISPOSED', 'this analyzer was disposed; create a new one'));
        pending.clear();
      }
    });
  }

  return { detectorName: info.detectorName, tasks: info.tasks, backend: info.backend, analyze, analyzeMany, classifyCrops, classifyCropsSettled, dispose };
}

/** The current frame of a video (or any drawable) as raw pixels, for `FrameAnalyzer.analyzeFrame`. */
export function grabFrame(source: HTMLVideoElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | VideoFrame | HTMLImageElement): RawImage {
  return pixelsOf(source, '<frame>', DEFAULT_DECODE_OPTIONS.pixelLimit);
}

/**
 * The current frame of a `<video>` (or a VideoFrame) as raw pixels through WebCodecs:
 * `VideoFrame.copyTo` converting to RGBX, with no canvas between (drawing a camera frame on a
 * canvas and reading it back is the page's largest cost per frame in `npm run bench`). Falls back
 * to `grabFrame` where the browser lacks WebCodecs or that conversion. Colours may differ from the
 * canvas path by the conversion's rounding.
 */
export async function grabFrameAsync(source: HTMLVideoElement | VideoFrame): Promise<RawImage> {
  if (typeof VideoFrame === 'undefined') return grabFrame(source);
  const own = source instanceof VideoFrame ? undefined : new VideoFrame(source);
  const frame = own ?? (source as VideoFrame);
  try {
    const rect = frame.visibleRect;
    if (rect === null || rect.width * rect.height > DEFAULT_DECODE_OPTIONS.pixelLimit) return grabFrame(frame);
    const data = new Uint8Array(rect.width * rect.height * 4);
    try {
      await frame.copyTo(data, { format: 'RGBX', colorSpace: 'srgb' } as VideoFrameCopyToOptions);
    } catch {
      return grabFrame(frame); // no RGB conversion in this browser's copyTo
    }
    // X is padding: make it opaque where the browser left it otherwise, so no pixel is composited.
    if (data[3] !== 255) for (let i = 3; i < data.length; i += 4) data[i] = 255;
    return { data, width: rect.width, height: rect.height, channels: 4 };
  } finally {
    own?.close();
  }
}

export { decodeWebImage, type WebImageInput } from './decode.js';
export { createWebModelSource, type WebDownloadProgress, type WebModelSourceOptions } from './model-source.js';
export type { WebBackendInfo, WebBackendName, WebPlatformOptions } from './platform.js';
export { createAnalyzerWith, DEFAULT_TASK_MODELS } from '../core/analyzer.js';
export type { Analyzer, AnalyzeOptions, AnalyzerOptions, BatchItem, CropItem, CropOptions, DetectorName, FaceResult, ImageResult, StageTimings } from '../core/analyzer.js';
export { createFrameAnalyzer, DEFAULT_DETECT_EVERY } from '../core/video/stream.js';
export type { FrameAnalyzer, FrameAnalyzerOptions, FrameResult, TrackedFace } from '../core/video/stream.js';
export { smoothStep, parseSmoothing, DEFAULT_SMOOTHING } from '../core/video/smooth.js';
export { updateTracks, initialTrackerState, DEFAULT_TRACKER_OPTIONS } from '../core/video/tracker.js';
export type { TaskResult, BandResult } from '../core/postprocess.js';
export { TASK_LABELS, isClassResult, isValueResult, isMultilabelResult, isValuesResult, hasLabelIn } from '../core/results.js';
export type { ClassResult, ValueResult, MultilabelResult, ValuesResult, FaceAttributes, EmotionLabel, GenderLabel, EthnicityLabel, GlassesLabel, FacialHairLabel } from '../core/results.js';
export { assessQuality, faceSharpness, sharpness, DEFAULT_QUALITY_THRESHOLDS } from '../core/quality.js';
export type { FaceQuality, QualityReason, QualityThresholds } from '../core/quality.js';
export { layoutLabels } from '../core/label-layout.js';
export type * from '../core/types.js';
export * from '../core/errors.js';
