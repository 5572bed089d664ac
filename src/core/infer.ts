import { ModelError, OptionError } from './errors.js';
import { flipHorizontal, normaliseInto } from './normalise.js';
import type { ActivationOutput, ModelManifest } from './models/manifest.js';
import { checkManifestAgainstGraph } from './models/graph-check.js';
import type { InferenceBackend, ModelData, SessionOptions, TensorData } from './platform.js';
import type { Image8 } from './types.js';

/** Raw output rows of one model for a batch: `rows[task][i]` is face i's output vector. */
export type RawOutputs = Record<string, Float32Array[]>;

/** What one batched call returns: the tasks' rows, and each face's embedding when asked for. */
export interface InferResult {
  readonly outputs: RawOutputs;
  readonly embeddings?: Float32Array[];
  /**
   * With the `activations` option: per layer (the manifest's `layer`), each face's maps as
   * channels × height × width numbers, channel-major (map c, row y, column x at (c·H + y)·W + x).
   */
  readonly activations?: Record<string, Float32Array[]>;
}

export interface RunOptions {
  readonly tta?: boolean;
  readonly embedding?: boolean;
  /** `true`: every layer the manifest declares; or the layers (or output names) to fetch. */
  readonly activations?: boolean | readonly string[];
}

/**
 * The manifest's activation outputs that `wanted` names (by layer or output name; `true`: all). An
 * OptionError naming the model when it declares none (saying how to re-export it), or naming the
 * declared layers when one is unknown.
 */
export function pickActivations(manifest: ModelManifest, wanted: true | readonly string[]): ActivationOutput[] {
  const declared = manifest.activations ?? [];
  if (declared.length === 0) {
    throw new OptionError(
      `model ${manifest.id} declares no activation outputs (its manifest has no "activations"): re-export it with \`python -m training.export --run RUN --out DIR --activations stages\` (or --activations LAYER,...) and pass that manifest`,
    );
  }
  if (wanted === true) return [...declared];
  return wanted.map((w) => {
    const a = declared.find((d) => d.layer === w || d.name === w);
    if (a === undefined) throw new OptionError(`model ${manifest.id} has no activation output for layer "${w}"; it declares ${declared.map((d) => d.layer).join(', ')}`);
    return a;
  });
}

export interface Classifier {
  readonly manifest: ModelManifest;
  /**
   * Infer stage: one batched ONNX Runtime call for all crops (each already cropped to the
   * model's input size). With `tta`, the mirrored crops join the same batch and each face's
   * outputs are the mean of the two (logits averaged, as the trainer's evaluation does).
   * With `embedding`, the manifest's embedding output is fetched too (an error if it has none).
   * With `activations`, the declared activation maps are fetched too (see {@link pickActivations});
   * under `tta` they are the unmirrored crops' (a mirrored map is not aligned with the crop).
   */
  run(crops: readonly Image8[], options?: RunOptions): Promise<InferResult>;
  /** Normalise stage alone: crops (and their mirror images under `tta`) as one input tensor. */
  prepare(crops: readonly Image8[], tta?: boolean): PreparedBatch;
  /** Infer stage alone, on a batch from {@link prepare} or one written directly (src/core/fused.ts). */
  runPrepared(batch: PreparedBatch, options?: Omit<RunOptions, 'tta'>): Promise<InferResult>;
  dispose(): Promise<void>;
}

/**
 * A batch in the model's input layout: `faces` inputs of width·height·channels numbers each,
 * followed under `tta` by their mirror images in the same order.
 */
export interface PreparedBatch {
  readonly data: Float32Array;
  readonly faces: number;
  readonly tta: boolean;
}

/** Loads one classifier on `backend`; `sourceName` names the model in load errors. */
export async function createClassifier(backend: InferenceBackend, model: ModelData, manifest: ModelManifest, options: SessionOptions & { readonly sourceName?: string } = {}): Promise<Classifier> {
  const sourceName = options.sourceName ?? (typeof model === 'string' ? model : manifest.id);
  const session = await backend.createSession(model, { ...options, sourceName });
  try {
    await checkManifestAgainstGraph(session, manifest, sourceName);
  } catch (e) {
    await session.release();
    throw e;
  }
  const { input, outputs } = manifest;
  const per = input.width * input.height * input.channels;
  const shape = (n: number) => (input.layout === 'NCHW' ? [n, input.channels, input.height, input.width] : [n, input.height, input.width, input.channels]);

  function prepare(crops: readonly Image8[], tta = false): PreparedBatch {
    const views = tta ? [...crops, ...crops.map(flipHorizontal)] : crops;
    const data = new Float32Array(views.length * per);
    views.forEach((img, i) => normaliseInto(img, input, data, i * per));
    return { data, faces: crops.length, tta };
  }

  function run(crops: readonly Image8[], opts: RunOptions = {}): Promise<InferResult> {
    return runPrepared(prepare(crops, opts.tta === true), opts);
  }

  async function runPrepared(batch: PreparedBatch, opts: Omit<RunOptions, 'tta'> = {}): Promise<InferResult> {
    const { data, faces, tta } = batch;
    const nViews = tta ? 2 * faces : faces;
    if (data.length !== nViews * per) throw new Error(`batch has ${data.length} numbers, ${nViews} inputs of ${per} expected`);
    const embedding = opts.embedding === true ? manifest.embedding : undefined;
    if (opts.embedding === true && embedding === undefined) {
      throw new ModelError('MODEL_INVALID', `model ${manifest.id} has no embedding output (its manifest has no "embedding"; re-export it with training/export.py)`);
    }
    const acts = opts.activations === undefined || opts.activations === false ? [] : pickActivations(manifest, opts.activations);
    const result: RawOutputs = {};
    const layers = (rowsOf: (a: ActivationOutput) => Float32Array[]) => (acts.length === 0 ? {} : { activations: Object.fromEntries(acts.map((a) => [a.layer, rowsOf(a)])) });
    if (faces === 0) {
      for (const o of outputs) result[o.task] = [];
      return { outputs: result, ...(embedding === undefined ? {} : { embeddings: [] }), ...layers(() => []) };
    }
    const feeds: Record<string, TensorData> = { [input.name]: { data, dims: shape(nViews) } };
    const names = [...outputs.map((o) => o.name), ...(embedding === undefined ? [] : [embedding.name]), ...acts.map((a) => a.name)];
    const out = await session.run(feeds, names);
    // Rows of face i (averaged with its mirror image's under TTA: logits, and features alike).
    const rowsOf = (name: string, average = true): Float32Array[] => {
      const t = out[name];
      if (t === undefined) throw new ModelError('MODEL_INVALID', `model ${manifest.id} has no output "${name}"`);
      const flat = t.data;
      const k = flat.length / nViews;
      const rows: Float32Array[] = [];
      for (let i = 0; i < faces; i++) {
        const row = flat.slice(i * k, (i + 1) * k);
        if (tta && average) {
          const m = (i + faces) * k;
          for (let j = 0; j < k; j++) row[j] = (row[j]! + flat[m + j]!) / 2;
        }
        rows.push(row);
      }
      return rows;
    };
    for (const o of outputs) result[o.task] = rowsOf(o.name);
    const maps = (a: ActivationOutput): Float32Array[] => {
      const rows = rowsOf(a.name, false);
      const n = a.channels * a.height * a.width;
      if (rows[0]!.length !== n) throw new ModelError('MODEL_INVALID', `model ${manifest.id}: output "${a.name}" has ${rows[0]!.length} numbers per face, its manifest says ${a.channels}×${a.height}×${a.width}`);
      return rows;
    };
    return { outputs: result, ...(embedding === undefined ? {} : { embeddings: rowsOf(embedding.name) }), ...layers(maps) };
  }

  return { manifest, run, prepare, runPrepared, dispose: () => session.release() };
}
