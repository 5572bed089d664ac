import type * as ortTypes from 'onnxruntime-node';
import { ModelError } from './errors.js';
import { flipHorizontal, normaliseInto } from './normalise.js';
import type { ModelManifest } from './models/manifest.js';
import { createSession, ort, type SessionOptions } from './onnx.js';
import type { Image8 } from './types.js';

/** Raw output rows of one model for a batch: `rows[task][i]` is face i's output vector. */
export type RawOutputs = Record<string, Float32Array[]>;

/** What one batched call returns: the tasks' rows, and each face's embedding when asked for. */
export interface InferResult {
  readonly outputs: RawOutputs;
  readonly embeddings?: Float32Array[];
}

export interface Classifier {
  readonly manifest: ModelManifest;
  /**
   * Infer stage: one batched ONNX Runtime call for all crops (each already cropped to the
   * model's input size). With `tta`, the mirrored crops join the same batch and each face's
   * outputs are the mean of the two (logits averaged, as the trainer's evaluation does).
   * With `embedding`, the manifest's embedding output is fetched too (an error if it has none).
   */
  run(crops: readonly Image8[], options?: { tta?: boolean; embedding?: boolean }): Promise<InferResult>;
  dispose(): Promise<void>;
}

export async function createClassifier(modelPath: string, manifest: ModelManifest, options: SessionOptions = {}): Promise<Classifier> {
  const session = await createSession(modelPath, options);
  const { input, outputs } = manifest;
  const per = input.width * input.height * input.channels;
  const shape = (n: number) => (input.layout === 'NCHW' ? [n, input.channels, input.height, input.width] : [n, input.height, input.width, input.channels]);

  async function run(crops: readonly Image8[], opts: { tta?: boolean; embedding?: boolean } = {}): Promise<InferResult> {
    const embedding = opts.embedding === true ? manifest.embedding : undefined;
    if (opts.embedding === true && embedding === undefined) {
      throw new ModelError('MODEL_INVALID', `model ${manifest.id} has no embedding output (its manifest has no "embedding"; re-export it with training/export.py)`);
    }
    const result: RawOutputs = {};
    if (crops.length === 0) {
      for (const o of outputs) result[o.task] = [];
      return { outputs: result, ...(embedding === undefined ? {} : { embeddings: [] }) };
    }
    const views = opts.tta ? [...crops, ...crops.map(flipHorizontal)] : crops;
    const data = new Float32Array(views.length * per);
    views.forEach((img, i) => normaliseInto(img, input, data, i * per));
    const feeds: Record<string, ortTypes.Tensor> = { [input.name]: new ort.Tensor('float32', data, shape(views.length)) };
    const names = [...outputs.map((o) => o.name), ...(embedding === undefined ? [] : [embedding.name])];
    const out = await session.run(feeds, names);
    // Rows of face i (averaged with its mirror image's under TTA: logits, and features alike).
    const rowsOf = (name: string): Float32Array[] => {
      const t = out[name];
      if (t === undefined) throw new ModelError('MODEL_INVALID', `model ${manifest.id} has no output "${name}"`);
      const flat = t.data as Float32Array;
      const k = flat.length / views.length;
      const rows: Float32Array[] = [];
      for (let i = 0; i < crops.length; i++) {
        const row = flat.slice(i * k, (i + 1) * k);
        if (opts.tta) {
          const m = (i + crops.length) * k;
          for (let j = 0; j < k; j++) row[j] = (row[j]! + flat[m + j]!) / 2;
        }
        rows.push(row);
      }
      return rows;
    };
    for (const o of outputs) result[o.task] = rowsOf(o.name);
    return { outputs: result, ...(embedding === undefined ? {} : { embeddings: rowsOf(embedding.name) }) };
  }

  return { manifest, run, dispose: () => session.release() };
}
