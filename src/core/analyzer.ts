import { refineLandmarks } from './detect/refine.js';
import { DEFAULT_DETECT_OPTIONS, type DetectOptions, type FaceDetector } from './detect/types.js';
import { createYunetDetector } from './detect/yunet.js';
import { FacesenseError, ModelError, OptionError } from './errors.js';
import { alignFaceInto, inputWriter } from './fused.js';
import { createClassifier, type Classifier, type InferResult, type PreparedBatch } from './infer.js';
import { WEIGHTS_REGISTRY } from './models/registry.js';
import { DEFAULT_DECODE_OPTIONS, type ModelData, type ModelSource, type Platform, type SourcedModel } from './platform.js';
import { estimatePose, type HeadPose } from './pose.js';
import { decodeOutput, resultKind, type TaskResult } from './postprocess.js';
import { assessQuality, DEFAULT_QUALITY_THRESHOLDS, faceSharpness, OCCLUSION_MODEL, occlusionOf, type FaceQuality, type OcclusionRegions, type QualityThresholds } from './quality.js';
import type { FaceAttributes } from './results.js';
import type { Box, Detection, ImageInput, Landmarks5, RgbImage } from './types.js';
import { checkAnalyzeOptions, checkAnalyzerOptions } from './validate.js';
import { createLifecycle, type Lifecycle } from './lifecycle.js';

export type DetectorName = 'yunet' | 'yunet-640' | 'viola-jones' | 'none';

/**
 * The model each task uses unless `models` says otherwise. A task whose default model is not
 * installed is left out when `tasks` is not given, and is an error when it is asked for.
 */
export const DEFAULT_TASK_MODELS: Readonly<Record<string, string>> = Object.freeze({
  // Issue 17: emotion-ferplus-int8 and its distilled student (taught by the face-trunk ensemble,
  // emotion-ferplus-faceres), logits averaged: FER+ as the single network, posed faces (CK+
  // held-out subjects) 94% instead of 75%. Both int8 (issue 19, training/quantize.py).
  emotion: 'emotion-ferplus-distilled',
  // Issue 17: the pretrained face trunk (VGGFace2, IMDB-WIKI) fine-tuned on UTKFace is ahead of
  // the networks trained from scratch on every UTKFace test figure (its model card).
  age: 'demographics-faceres',
  gender: 'demographics-faceres',
  ethnicity: 'demographics-faceres',
  glasses: 'attributes-utkface-int8',
  beard: 'attributes-utkface-int8',
  moustache: 'attributes-utkface-int8',
});

/** Load-time options. Every default is here, in one place. */
export interface AnalyzerOptions {
  /** Face detector, or `none` to treat every input as one already-cropped face. @default 'yunet' */
  readonly detector?: DetectorName | FaceDetector;
  /** Tasks to run, e.g. `['emotion']`. @default every task in DEFAULT_TASK_MODELS whose model is installed */
  readonly tasks?: readonly string[];
  /** Model ids or paths to load; each adds the tasks its manifest lists (overriding the defaults; the first listed answers a task two of them list). @default [] */
  readonly models?: readonly string[];
  /** ONNX Runtime intra-op threads per session. @default 0 (one per core) */
  readonly threads?: number;
  /**
   * YuNet's input: images whose longer side exceeds this are scaled down before detection (boxes
   * come back in original pixels). Smaller is faster (detection cost grows with the pixels) and
   * misses faces under about 10 px after scaling: 320 suits a webcam with a face near it.
   * @default 640
   */
  readonly detectorInputSide?: number;
  /** Default detection options for every call. @default DEFAULT_DETECT_OPTIONS */
  readonly detect?: Partial<DetectOptions>;
  /**
   * Rounds of landmark refinement per face (src/detect/refine.ts): re-detects on an upright
   * window so rotated faces are aligned to within ~0.5° (under 0.6°) instead of 3–5° at ±25°. Each round costs
   * six detector runs on a 256×256 window per face. @default 0
   */
  readonly refineLandmarks?: number;
  /** Pixel limit of the decode stage. @default 100_000_000 */
  readonly pixelLimit?: number;
  /** Average each face's outputs with its mirror image (test-time augmentation). @default false */
  readonly tta?: boolean;
  /** Thresholds of the quality flags (`FaceResult.quality`). @default DEFAULT_QUALITY_THRESHOLDS */
  readonly quality?: Partial<QualityThresholds>;
  /**
   * Measure occlusion (`quality.occlusion`, the `occlusion` reason) with the `occlusion-synth`
   * model: `true` requires it, `false` skips it (~0.1 ms a face saved). @default true when it is installed
   */
  readonly occlusion?: boolean;
  /** Faces whose eyes are closer than this (input pixels) are reported as too small, not classified. @default 8 */
  readonly minEyeDistancePx?: number;
  /**
   * Also return each face's embedding (trunk features, the heads' input) from every model whose
   * manifest declares one, as `FaceResult.embeddings[modelId]`: the input of sequence models,
   * projections and face-to-face comparisons. @default false
   */
  readonly embeddings?: boolean;
}

/** Per-call options. */
export interface AnalyzeOptions {
  readonly detect?: Partial<DetectOptions>;
  readonly tta?: boolean;
  /** Name for error messages and the result's `source` when the input is not a path. */
  readonly sourceName?: string;
  /**
   * Skip the detect stage and classify these faces (pixels of this input) instead: video
   * track-only frames (src/video/stream.ts) reuse the boxes and landmarks of an earlier frame.
   * @default undefined (run the detector)
   */
  readonly detections?: readonly Detection[];
  /** Abort the call: it rejects (analyzeMany: in-flight inputs end) with a FacesenseError `ABORTED`. */
  readonly signal?: AbortSignal;
}

export interface FaceResult {
  readonly boxPx: Box;
  readonly score: number;
  readonly landmarksPx?: Landmarks5;
  /** In-plane rotation of the eye line (positive: clockwise in the image; the same value as `pose.rollDeg`) and eye distance. */
  readonly alignment: { readonly rollDeg: number; readonly eyeDistancePx: number };
  /** Head pose from the landmarks (absent without landmarks); see src/core/pose.ts for its accuracy. */
  readonly pose?: HeadPose;
  /** One entry per task that ran on this face, typed per known task (src/core/results.ts). */
  readonly attributes: FaceAttributes;
  /**
   * With `AnalyzerOptions.embeddings`: model id → this face's embedding, as a plain array so a
   * result serialises to the same JSON in Node, in a browser, from the CLI and over HTTP.
   */
  readonly embeddings?: Readonly<Record<string, readonly number[]>>;
  /**
   * Whether the face is one the models were trained for (near-frontal, large and sharp enough, a
   * confident detection), with the reasons when not; absent with the `none` detector.
   */
  readonly quality?: FaceQuality;
  /** Set when the face was found but not classified, with the reason. */
  readonly skipped?: { readonly code: 'FACE_TOO_SMALL'; readonly message: string };
}

export interface StageTimings {
  decodeMs: number;
  detectMs: number;
  alignMs: number;
  inferMs: number;
  totalMs: number;
  /** Crops → input tensors (set by this analyzer; optional so older literals still type-check). */
  normaliseMs?: number;
  /** Model outputs → results (labels, probabilities, pose). */
  postprocessMs?: number;
}

export interface ImageResult {
  readonly source: string;
  readonly widthPx: number;
  readonly heightPx: number;
  readonly faces: readonly FaceResult[];
  readonly timings: StageTimings;
}

/** One item of `analyzeMany`: a result, or the typed error for that input alone. */
export type BatchItem =
  | { readonly ok: true; readonly source: string; readonly result: ImageResult }
  | { readonly ok: false; readonly source: string; readonly error: FacesenseError };

/** `I`: the inputs the platform's decoder accepts (Node: path, encoded bytes, raw pixels). */
export interface Analyzer<I = ImageInput> {
  /** The detector and the weights file it loaded, e.g. `yunet (yunet_dynamic.onnx)`; `none` without one. */
  readonly detectorName: string;
  /** Tasks this analyzer runs, in order, each with the id of the model that answers it and the kind of result it gives. */
  readonly tasks: readonly { readonly task: string; readonly model: string; readonly labels: readonly string[]; readonly kind: TaskResult['kind'] }[];
  analyze(input: I, options?: AnalyzeOptions): Promise<ImageResult>;
  /** Analyses many inputs with bounded concurrency, yielding in input order; one bad input never stops the rest. */
  analyzeMany(inputs: Iterable<I> | AsyncIterable<I>, options?: AnalyzeOptions & { concurrency?: number }): AsyncGenerator<BatchItem>;
  /**
   * Classifies already-cropped face images (no detection), batched: the fast path for datasets.
   * `onTimings` receives the batch's stage timings (detectMs 0), e.g. for benchmarks.
   */
  classifyCrops(crops: readonly I[], options?: CropOptions): Promise<Record<string, TaskResult>[]>;
  /** As classifyCrops, but a crop that cannot be decoded is its own typed error; the others are still classified. */
  classifyCropsSettled(crops: readonly I[], options?: CropOptions): Promise<CropItem[]>;
  /** Waits for in-flight calls to finish, then releases the models; later calls fail with `DISPOSED`. */
  dispose(): Promise<void>;
}

/** Options of `classifyCrops` / `classifyCropsSettled`. */
export interface CropOptions {
  readonly tta?: boolean;
  /** Receives the batch's stage timings (detectMs 0; decodeMs covers every crop, the undecodable included). */
  readonly onTimings?: (timings: StageTimings) => void;
}

/** One item of `classifyCropsSettled`: a crop's attributes, or the typed error for that crop alone. */
export type CropItem = { readonly ok: true; readonly attributes: Record<string, TaskResult> } | { readonly ok: false; readonly source: string; readonly error: FacesenseError };

/**
 * The analyzer on a given platform: its inference backend, decoder and model source come from
 * outside (src/node/analyzer.ts and src/web/ wire theirs), so this module runs anywhere.
 */
export async function createAnalyzerWith<I>(platform: Platform<I>, options: AnalyzerOptions = {}): Promise<Analyzer<I>> {
  checkAnalyzerOptions(options);
  const store = platform.models;
  const sessionOpts = options.threads === undefined ? {} : { threads: options.threads };
  const minEye = options.minEyeDistancePx ?? 8;
  const pixelLimit = options.pixelLimit ?? DEFAULT_DECODE_OPTIONS.pixelLimit;
  const baseDetect: DetectOptions = { ...DEFAULT_DETECT_OPTIONS, ...options.detect };
  const qualityThresholds: QualityThresholds = { ...DEFAULT_QUALITY_THRESHOLDS, ...options.quality };

  const classifiers: Classifier[] = [];
  // The quality model: run with the others on every detected face, but answers no task.
  let occluder: Classifier | undefined;
  let detector: FaceDetector | undefined;
  const life: Lifecycle = createLifecycle();
  try {
    const plan = await planModels(store, options);
    for (const m of plan) classifiers.push(await createClassifier(platform.backend, m.model, m.manifest, { ...sessionOpts, sourceName: typeof m.model === 'string' ? m.model : m.id }));
    const occ = await planOcclusion(store, options);
    if (occ !== undefined) occluder = await createClassifier(platform.backend, occ.model, occ.manifest, { ...sessionOpts, sourceName: OCCLUSION_MODEL });
    const side = options.detectorInputSide; // checked by checkAnalyzerOptions
    detector = await openDetector(platform, options.detector ?? 'yunet', { ...sessionOpts, ...(side === undefined ? {} : { maxInputSide: side }) });
  } catch (e) {
    await Promise.all([...classifiers, ...(occluder === undefined ? [] : [occluder])].map((c) => c.dispose()));
    throw e;
  }
  /** Every network a detected face goes through: the task models, then the quality model. */
  const faceModels = occluder === undefined ? classifiers : [...classifiers, occluder];
  const wanted = options.tasks === undefined ? undefined : new Set(options.tasks);
  // A task is answered by the first model that lists it: explicit `models` come before the
  // defaults, so a default loaded for other tasks (attributes-utkface for glasses) does not
  // overwrite what an explicit model (an age/gender/ethnicity model) answers.
  const owner = new Map<string, Classifier>();
  for (const c of classifiers) for (const o of c.manifest.outputs) if (!owner.has(o.task)) owner.set(o.task, c);
  const answers = (c: Classifier, task: string) => owner.get(task) === c && (wanted === undefined || wanted.has(task));
  const taskList = classifiers.flatMap((c) => c.manifest.outputs.filter((o) => answers(c, o.task)).map((o) => ({ task: o.task, model: c.manifest.id, labels: o.labels, kind: resultKind(o) })));

  // The fused align+normalise writer of each model (its normalisation table built once).
  const writers = new Map(faceModels.map((c) => [c, inputWriter(c.manifest.input)]));

  const checkOpen = life.checkOpen;

  interface Classified {
    readonly attributes: Record<string, TaskResult>;
    readonly embeddings: Record<string, readonly number[]>;
  }

  /**
   * Align and normalise stages, fused (src/core/fused.ts): each model's input tensor for all faces
   * (and their mirror images under `tta`) sampled straight from the image, no crop images between.
   */
  function alignAll(models: readonly Classifier[], faces: readonly { readonly image: RgbImage; readonly det: Detection | undefined }[], tta: boolean): Map<Classifier, PreparedBatch> {
    return new Map(
      models.map((c) => {
        const mi = c.manifest.input;
        const per = mi.width * mi.height * mi.channels;
        const data = new Float32Array((tta ? 2 : 1) * faces.length * per);
        faces.forEach((f, i) => alignFaceInto(f.image, f.det, mi, data, i * per, tta ? (faces.length + i) * per : -1, writers.get(c)));
        return [c, { data, faces: faces.length, tta }];
      }),
    );
  }

  /** Infer stage: one batched call per model. */
  /** `check` runs before each model (an abort between models: many faces make each model's run long). */
  async function inferAll(batches: Map<Classifier, PreparedBatch>, check?: () => void): Promise<Map<Classifier, InferResult>> {
    const raw = new Map<Classifier, InferResult>();
    for (const c of batches.keys()) {
      check?.();
      const embedding = options.embeddings === true && c.manifest.embedding !== undefined;
      raw.set(c, await c.runPrepared(batches.get(c)!, { embedding }));
    }
    return raw;
  }

  /** Post-process stage: raw outputs → each face's task results and embeddings. */
  function decodeAll(raw: Map<Classifier, InferResult>, n: number): Classified[] {
    const faces: Classified[] = Array.from({ length: n }, () => ({ attributes: {}, embeddings: {} }));
    for (const c of classifiers) {
      const { outputs, embeddings } = raw.get(c)!;
      for (const o of c.manifest.outputs) {
        if (!answers(c, o.task)) continue;
        outputs[o.task]!.forEach((row, i) => (faces[i]!.attributes[o.task] = decodeOutput(o, row)));
      }
      embeddings?.forEach((e, i) => (faces[i]!.embeddings[c.manifest.id] = Array.from(e)));
    }
    return faces;
  }

  async function detectFaces(image: RgbImage, detect: DetectOptions): Promise<(Detection | undefined)[]> {
    if (detector === undefined) return [undefined];
    const found = await detector.detect(image, detect);
    const rounds = options.refineLandmarks ?? 0;
    if (rounds <= 0) return found;
    const refined: Detection[] = [];
    for (const d of found) refined.push(await refineLandmarks(detector, image, d, detect, { iterations: rounds }));
    return refined;
  }

  function analyze(input: I, opts: AnalyzeOptions = {}): Promise<ImageResult> {
    return life.run(async () => {
      checkAnalyzeOptions(opts);
      return analyzeOne(input, opts);
    });
  }

  async function analyzeOne(input: I, opts: AnalyzeOptions): Promise<ImageResult> {
    const source = typeof input === 'string' ? input : (opts.sourceName ?? (input instanceof Uint8Array ? '<buffer>' : input === null || typeof input !== 'object' ? '<input>' : '<pixels>'));
    life.checkAborted(opts.signal, source);
    const t0 = performance.now();
    const image = await platform.decode(input, { pixelLimit, sourceName: source });
    life.checkAborted(opts.signal, source);
    const t1 = performance.now();
    const detections: readonly (Detection | undefined)[] = opts.detections ?? (await detectFaces(image, { ...baseDetect, ...opts.detect }));
    life.checkAborted(opts.signal, source);
    const t2 = performance.now();
    const toAlign: { image: RgbImage; det: Detection | undefined }[] = [];
    const faces: { det: Detection; alignment: FaceResult['alignment']; small: boolean }[] = [];
    for (const det of detections) {
      const d: Detection = det ?? { boxPx: { x: 0, y: 0, width: image.width, height: image.height }, score: 1 };
      const eyeDistancePx = eyeDistance(d.landmarksPx);
      const small = det !== undefined && eyeDistancePx < minEye;
      if (!small) toAlign.push({ image, det });
      faces.push({ det: d, alignment: { rollDeg: det?.landmarksPx === undefined ? 0 : rollOf(det.landmarksPx), eyeDistancePx }, small });
    }
    const batches = alignAll(faceModels, toAlign, opts.tta ?? options.tta ?? false);
    const t3 = performance.now();
    // Normalisation is fused into the align pass: its own share is reported as 0.
    const t3n = t3;
    const raw = await inferAll(batches, () => life.checkAborted(opts.signal, source));
    const t4 = performance.now();
    const classified = decodeAll(raw, faces.filter((f) => !f.small).length);
    const occlusion: readonly OcclusionRegions[] = occluder === undefined ? [] : occlusionOf(occluder.manifest, raw.get(occluder)!);
    let k = 0;
    const results: FaceResult[] = faces.map(({ det, alignment, small }) => {
      const lm = det.landmarksPx;
      // One roll per face: the eye-line angle the crop was levelled by, in `alignment` and `pose` alike.
      const pose = lm === undefined ? undefined : { ...estimatePose(lm), rollDeg: alignment.rollDeg };
      const occ = small ? undefined : occlusion[k];
      const quality = lm === undefined ? undefined : assessQuality({ score: det.score, eyeDistancePx: alignment.eyeDistancePx, yawDeg: pose?.yawDeg ?? 0, sharpness: faceSharpness(image, det), ...(occ === undefined ? {} : { occlusion: occ }) }, qualityThresholds);
      const base = { boxPx: det.boxPx, score: det.score, ...(lm === undefined || pose === undefined ? {} : { landmarksPx: lm, pose }), alignment, ...(quality === undefined ? {} : { quality }) };
      return small
        ? { ...base, attributes: {}, skipped: { code: 'FACE_TOO_SMALL' as const, message: `eyes are ${alignment.eyeDistancePx.toFixed(1)} px apart, below minEyeDistancePx ${minEye}: too small to align` } }
        : withEmbeddings({ ...base, attributes: classified[k]!.attributes }, classified[k++]!);
    });
    const t5 = performance.now();
    return {
      source,
      widthPx: image.width,
      heightPx: image.height,
      faces: results,
      timings: { decodeMs: t1 - t0, detectMs: t2 - t1, alignMs: t3 - t2, inferMs: t4 - t3n, totalMs: t5 - t0, normaliseMs: t3n - t3, postprocessMs: t5 - t4 },
    };
  }

  async function* analyzeMany(inputs: Iterable<I> | AsyncIterable<I>, opts: AnalyzeOptions & { concurrency?: number } = {}): AsyncGenerator<BatchItem> {
    checkOpen();
    yield* analyzeManyWith(analyze, inputs, opts);
  }

  async function classifyCrops(inputs: readonly I[], opts: CropOptions = {}): Promise<Record<string, TaskResult>[]> {
    const items = await classifyCropsSettled(inputs, opts);
    const bad = items.find((it) => !it.ok);
    if (bad !== undefined && !bad.ok) throw bad.error;
    return items.map((it) => (it.ok ? it.attributes : {}));
  }

  function classifyCropsSettled(inputs: readonly I[], opts: CropOptions = {}): Promise<CropItem[]> {
    return life.run(async () => {
      if (!Array.isArray(inputs)) throw new OptionError('classifyCrops needs an array of inputs');
      checkAnalyzeOptions(opts);
      if (opts.onTimings !== undefined && typeof opts.onTimings !== 'function') throw new OptionError('onTimings must be a function');
      const t0 = performance.now();
      const settled = await Promise.allSettled(inputs.map((inp, j) => platform.decode(inp, { pixelLimit, sourceName: typeof inp === 'string' ? inp : `<crop ${j}>` })));
      const good = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const t1 = performance.now();
      // No detection: each crop is resized whole to the model's input (alignFace's `none` mode).
      const batches = alignAll(classifiers, good.map((image) => ({ image, det: undefined })), opts.tta ?? options.tta ?? false);
      const t2 = performance.now();
      // Normalisation is fused into the align pass: its own share is reported as 0.
      const raw = await inferAll(batches);
      const t3 = performance.now();
      const classified = decodeAll(raw, good.length).map((f) => f.attributes);
      const t4 = performance.now();
      opts.onTimings?.({ decodeMs: t1 - t0, detectMs: 0, alignMs: t2 - t1, normaliseMs: 0, inferMs: t3 - t2, postprocessMs: t4 - t3, totalMs: t4 - t0 });
      let k = 0;
      return settled.map((r, j): CropItem => {
        if (r.status === 'fulfilled') return { ok: true, attributes: classified[k++]! };
        if (r.reason instanceof FacesenseError) return { ok: false, source: r.reason.source ?? `<crop ${j}>`, error: r.reason };
        throw r.reason; // a bug, not bad input
      });
    });
  }

  function withEmbeddings(face: FaceResult, c: Classified): FaceResult {
    return options.embeddings === true ? { ...face, embeddings: c.embeddings } : face;
  }

  function dispose(): Promise<void> {
    return life.dispose(async () => {
      await Promise.all([...faceModels.map((c) => c.dispose()), detector?.dispose()]);
    });
  }

  return { detectorName: detector?.name ?? 'none', tasks: taskList, analyze, analyzeMany, classifyCrops, classifyCropsSettled, dispose };
}

/**
 * `analyzeMany` over any `analyze` (this module's, or a worker pool's in src/node/pool.ts):
 * bounded concurrency, results in input order, one bad input never stops the rest.
 */
export async function* analyzeManyWith<I>(analyze: (input: I, options: AnalyzeOptions) => Promise<ImageResult>, inputs: Iterable<I> | AsyncIterable<I>, opts: AnalyzeOptions & { concurrency?: number } = {}): AsyncGenerator<BatchItem> {
  checkAnalyzeOptions(opts);
  if (inputs === null || typeof inputs !== 'object' || !(Symbol.iterator in inputs || Symbol.asyncIterator in inputs)) {
    throw new OptionError('analyzeMany needs an iterable or async iterable of inputs');
  }
  const { concurrency, ...one } = opts;
  const limit = Math.max(1, concurrency ?? 2);
  const window: Promise<BatchItem>[] = [];
  let i = 0;
  const start = (input: I): Promise<BatchItem> => {
    const source = typeof input === 'string' ? input : `${opts.sourceName ?? '<input>'}#${i}`;
    i++;
    const item = analyze(input, { ...one, sourceName: source }).then(
      (result): BatchItem => ({ ok: true, source, result }),
      (e: unknown): BatchItem => {
        if (e instanceof FacesenseError) return { ok: false, source, error: e };
        throw e; // a bug, not bad input: do not disguise it as a per-file error
      },
    );
    // Handled when its turn comes; until then a rejection must not count as unhandled.
    item.catch(() => undefined);
    return item;
  };
  // The caller may stop early (break), the inputs may throw, or the signal may fire: the inputs
  // already started still end as items (or are awaited), so nothing rejects unhandled.
  let failure: { error: unknown } | undefined;
  try {
    try {
      for await (const input of inputs) {
        if (opts.signal?.aborted === true) break;
        window.push(start(input));
        if (window.length >= limit) yield await window.shift()!;
      }
    } catch (e) {
      failure = { error: e };
    }
    while (window.length > 0) yield await window.shift()!;
    if (failure !== undefined) throw failure.error;
    if (opts.signal?.aborted === true) throw new FacesenseError('ABORTED', 'aborted by the caller (AbortSignal)', { source: opts.sourceName ?? '<batch>', cause: opts.signal.reason });
  } finally {
    await Promise.allSettled(window);
  }
}

function eyeDistance(lm: Landmarks5 | undefined): number {
  return lm === undefined ? Number.NaN : Math.hypot(lm.leftEye.x - lm.rightEye.x, lm.leftEye.y - lm.rightEye.y);
}

function rollOf(lm: Landmarks5): number {
  return (Math.atan2(lm.leftEye.y - lm.rightEye.y, lm.leftEye.x - lm.rightEye.x) * 180) / Math.PI;
}

async function openDetector<I>(platform: Platform<I>, choice: DetectorName | FaceDetector, opts: { threads?: number; maxInputSide?: number }): Promise<FaceDetector | undefined> {
  if (typeof choice !== 'string') return choice;
  const store = platform.models;
  const own = platform.detectors?.[choice];
  if (own !== undefined) return own();
  switch (choice) {
    case 'none':
      return undefined;
    case 'viola-jones':
      throw new OptionError('the viola-jones detector reads OpenCV\'s Haar files and is only available in Node; use yunet');
    case 'yunet-640':
      return yunetFrom(platform, WEIGHTS_REGISTRY['yunet-640'], await store.resolveFile(WEIGHTS_REGISTRY['yunet-640']), opts);
    case 'yunet': {
      // The dynamic-size export is faster (no padding to 640×640) and ships in the package; fall
      // back to the downloadable fixed-size export when it has been removed.
      let model: ModelData;
      try {
        model = await store.resolveFile(WEIGHTS_REGISTRY.yunet);
      } catch (e) {
        if (!(e instanceof ModelError) || e.code !== 'MODEL_NOT_FOUND') throw e;
        return yunetFrom(platform, WEIGHTS_REGISTRY['yunet-640'], await store.resolveFile(WEIGHTS_REGISTRY['yunet-640']), opts);
      }
      return yunetFrom(platform, WEIGHTS_REGISTRY.yunet, model, opts);
    }
    default:
      throw new OptionError(`unknown detector "${String(choice)}"; use yunet, yunet-640, viola-jones or none`);
  }
}

/** A YuNet detector named after the weights actually loaded, e.g. `yunet-640 (face_detection_yunet_2023mar.onnx)`. */
function yunetFrom<I>(platform: Platform<I>, entry: { readonly id: string; readonly file: string }, model: ModelData, opts: { threads?: number; maxInputSide?: number }): Promise<FaceDetector> {
  return createYunetDetector(platform.backend, { ...opts, model, name: `${entry.id} (${modelFileName(model, entry.file)})`, ...(platform.resize === undefined ? {} : { resize: platform.resize }) });
}

/** The file name of a model location (path or URL; the store may have found an alias), else `fallback` (bytes). */
function modelFileName(model: ModelData, fallback: string): string {
  if (typeof model !== 'string') return fallback;
  return model.split(/[\\/]/).pop()?.split(/[?#]/)[0] || fallback;
}

/** The occlusion model to load, if any: needs a detector (quality is per detected face); see `AnalyzerOptions.occlusion`. */
async function planOcclusion(store: ModelSource, options: AnalyzerOptions): Promise<SourcedModel | undefined> {
  if (options.occlusion === false || options.detector === 'none') return undefined;
  try {
    return await store.resolveModel(OCCLUSION_MODEL);
  } catch (e) {
    if (options.occlusion !== true && e instanceof ModelError && e.code === 'MODEL_NOT_FOUND') return undefined;
    throw e;
  }
}

/** Decides which models to load: explicit `models` first, then defaults for the remaining tasks. */
async function planModels(store: ModelSource, options: AnalyzerOptions): Promise<SourcedModel[]> {
  const resolved = await Promise.all((options.models ?? []).map((m) => store.resolveModel(m)));
  const covered = new Set(resolved.flatMap((r) => r.manifest.outputs.map((o) => o.task)));
  const asked = options.tasks;
  const candidates = asked ?? Object.keys(DEFAULT_TASK_MODELS);
  for (const task of candidates) {
    if (covered.has(task)) continue;
    const id = DEFAULT_TASK_MODELS[task];
    if (id === undefined) {
      throw new OptionError(`no model answers task "${task}"; known tasks: ${Object.keys(DEFAULT_TASK_MODELS).join(', ')}, or pass a model that lists it`);
    }
    try {
      const r = await store.resolveModel(id);
      resolved.push(r);
      r.manifest.outputs.forEach((o) => covered.add(o.task));
    } catch (e) {
      // Unrequested default whose model is not installed: leave the task out.
      if (asked === undefined && e instanceof ModelError && e.code === 'MODEL_NOT_FOUND') continue;
      throw e;
    }
  }
  return resolved;
}
