/**
 * Sequence models over a face track's per-frame embeddings (paper 004: per-frame CNN features →
 * LSTM / bidirectional LSTM / GRU). The model (training/sequence.py) reads [N, T, D] float32
 * embeddings of the frame model its manifest names and gives [N, classes] logits; it was trained on
 * whole sequences without padding, so each call runs one track's frames.
 *
 * A sequence manifest (`"kind": "sequence"`) sits beside the ONNX file like an image model's, but
 * describes an embedding input instead of pixels, so it has its own validator.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelError, OptionError } from '../../core/errors.js';
import type { ModelManifest } from '../../core/models/manifest.js';
import { createModelStore, type ModelStoreOptions } from '../models/store.js';
import { createSession, ort, type SessionOptions } from '../onnx.js';
import { decodeOutput, type TaskResult } from '../../core/postprocess.js';
import type { FrameResult, TrackedFace } from '../../core/video/stream.js';

export interface SequenceManifest {
  readonly id: string;
  readonly format: 1;
  readonly kind: 'sequence';
  readonly description?: string;
  readonly file?: string;
  readonly sha256?: string;
  readonly licence?: string;
  readonly input: {
    readonly name: string;
    /** Embedding size D. */
    readonly size: number;
    readonly layout: 'NTD';
    /** The image model whose embedding output the sequence model reads (and its checksum when trained). */
    readonly frameModel: { readonly id: string; readonly sha256?: string; readonly detector?: string };
  };
  readonly outputs: readonly [{ readonly task: string; readonly name: string; readonly decode: 'softmax'; readonly labels: readonly string[] }];
  /** Frames per sequence in training (median): the default sliding window. */
  readonly window: number;
  readonly architecture?: Readonly<Record<string, unknown>>;
  readonly training?: Readonly<Record<string, unknown>>;
  readonly metrics?: Readonly<Record<string, unknown>>;
}

function fail(source: string, what: string): never {
  throw new ModelError('MODEL_INVALID', `invalid sequence-model manifest: ${what}`, { source });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const positiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/** Checks a parsed sequence manifest; throws a ModelError naming the file and the first problem. */
export function validateSequenceManifest(value: unknown, source: string): SequenceManifest {
  if (!isRecord(value)) fail(source, 'not a JSON object');
  if (value.kind !== 'sequence') fail(source, `"kind" must be "sequence" (got ${JSON.stringify(value.kind)}); image models go to --model, not --sequence-model`);
  if (typeof value.id !== 'string' || value.id === '') fail(source, '"id" must be a non-empty string');
  if (value.format !== 1) fail(source, `"format" must be 1 (got ${JSON.stringify(value.format)})`);
  const input = value.input;
  if (!isRecord(input) || typeof input.name !== 'string' || !positiveInt(input.size) || input.layout !== 'NTD') fail(source, '"input" needs a string "name", a positive integer "size" and layout "NTD"');
  const fm = input.frameModel;
  if (!isRecord(fm) || typeof fm.id !== 'string' || fm.id === '') fail(source, '"input.frameModel.id" must name the image model whose embeddings the model reads');
  if (fm.sha256 !== undefined && (typeof fm.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(fm.sha256))) fail(source, '"input.frameModel.sha256" must be 64 lower-case hex digits');
  const outs = value.outputs;
  if (!Array.isArray(outs) || outs.length !== 1) fail(source, '"outputs" must hold exactly one output');
  const o: unknown = outs[0];
  if (!isRecord(o) || typeof o.task !== 'string' || typeof o.name !== 'string' || o.decode !== 'softmax') fail(source, 'outputs[0] needs string "task" and "name" and decode "softmax"');
  if (!Array.isArray(o.labels) || o.labels.length < 2 || !o.labels.every((l) => typeof l === 'string')) fail(source, 'outputs[0].labels must be at least two strings');
  if (!positiveInt(value.window)) fail(source, '"window" must be a positive integer (frames)');
  if (value.file !== undefined && (typeof value.file !== 'string' || value.file === '' || path.isAbsolute(value.file))) fail(source, '"file" must be a path relative to the manifest');
  return value as unknown as SequenceManifest;
}

export interface ResolvedSequenceModel {
  readonly manifest: SequenceManifest;
  readonly modelPath: string;
  readonly manifestPath: string;
}

/** A path (absolute, relative with a separator, or ending in .onnx/.json) rather than an id. */
function looksLikePath(s: string): boolean {
  return path.isAbsolute(s) || s.includes('/') || s.includes(path.sep) || s.startsWith('.') || /\.(onnx|json)$/i.test(s);
}

/**
 * Resolves a sequence model: a path to its .onnx (manifest beside it) or .json, or an id looked up
 * as `<id>.json` in the model store's search path (FACESENSE_MODELS, the package's models/, the cache).
 */
export async function resolveSequenceModel(idOrPath: string, store: ModelStoreOptions = {}): Promise<ResolvedSequenceModel> {
  if (idOrPath.trim() === '') throw new OptionError('sequence model must be a non-empty id or path');
  const manifestPath = looksLikePath(idOrPath)
    ? path.resolve(idOrPath.replace(/\.onnx$/i, '.json'))
    : await createModelStore(store).resolveFile({ id: idOrPath, file: `${idOrPath}.json` });
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (cause) {
    throw new ModelError('MODEL_NOT_FOUND', `cannot read the sequence model's manifest (expected beside the .onnx): ${cause instanceof Error ? cause.message : String(cause)}`, { source: manifestPath, cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ModelError('MODEL_INVALID', 'sequence-model manifest is not valid JSON', { source: manifestPath, cause });
  }
  const manifest = validateSequenceManifest(value, manifestPath);
  return { manifest, manifestPath, modelPath: path.join(path.dirname(manifestPath), manifest.file ?? `${manifest.id}.onnx`) };
}

/**
 * A sequence model only fits the embeddings it was trained on: the frame model must be the one its
 * manifest names, with the same checksum when both record one, and give embeddings of its size.
 */
export function checkFrameModel(seq: SequenceManifest, frame: ModelManifest, source: string): void {
  const want = seq.input.frameModel;
  if (frame.id !== want.id) throw new ModelError('MODEL_INVALID', `sequence model ${seq.id} reads ${want.id} embeddings, not ${frame.id}'s`, { source });
  if (frame.embedding === undefined) throw new ModelError('MODEL_INVALID', `frame model ${frame.id} declares no embedding output; re-export it with training/export.py`, { source });
  if (frame.embedding.size !== seq.input.size) {
    throw new ModelError('MODEL_INVALID', `sequence model ${seq.id} reads ${seq.input.size}-d embeddings; ${frame.id} gives ${frame.embedding.size}-d`, { source });
  }
  if (want.sha256 !== undefined && frame.sha256 !== undefined && want.sha256 !== frame.sha256) {
    throw new ModelError('MODEL_INVALID', `sequence model ${seq.id} was trained on embeddings of ${want.id} sha256 ${want.sha256.slice(0, 12)}…, but the installed ${frame.id} is ${frame.sha256.slice(0, 12)}…: retrain it on a pack from this model (facesense prepare-sequences)`, { source });
  }
}

export interface SequenceClassifier {
  readonly manifest: SequenceManifest;
  /** Classifies one sequence of embeddings (oldest first; at least one). */
  classify(frames: readonly Float32Array[]): Promise<Extract<TaskResult, { kind: 'class' }>>;
  dispose(): Promise<void>;
}

export async function createSequenceClassifier(modelPath: string, manifest: SequenceManifest, options: SessionOptions = {}): Promise<SequenceClassifier> {
  const session = await createSession(modelPath, options);
  const d = manifest.input.size;
  const out = manifest.outputs[0];
  const decoder = { task: out.task, name: out.name, decode: 'softmax' as const, labels: out.labels };
  return {
    manifest,
    async classify(frames) {
      if (frames.length === 0) throw new OptionError(`sequence model ${manifest.id}: classify needs at least one frame`);
      const data = new Float32Array(frames.length * d);
      frames.forEach((f, t) => {
        if (f.length !== d) throw new OptionError(`sequence model ${manifest.id}: frame ${t} has ${f.length} numbers, expected ${d}`);
        data.set(f, t * d);
      });
      const result = await session.run({ [manifest.input.name]: new ort.Tensor('float32', data, [1, frames.length, d]) }, [out.name]);
      const logits = result[out.name];
      if (logits === undefined) throw new ModelError('MODEL_INVALID', `model has no output "${out.name}"`, { source: modelPath });
      const r = decodeOutput(decoder, logits.data as Float32Array);
      if (r.kind !== 'class') throw new ModelError('MODEL_INVALID', 'softmax output decoded to a non-class result', { source: modelPath });
      return r;
    },
    dispose: () => session.release(),
  };
}

/** Sliding window of the last N sampled frames of each track, or the whole track (`'track'`). */
export type SequenceWindow = number | 'track';

export function parseSequenceWindow(value: string | undefined, fallback: number): SequenceWindow {
  if (value === undefined) return fallback;
  if (value === 'track') return 'track';
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new OptionError(`--sequence-window must be a positive integer or "track" (got ${JSON.stringify(value)})`);
  return Number(value);
}

/** One track's whole-track prediction, for the summary. */
export interface TrackSequenceResult {
  readonly trackId: number;
  /** Frames with an embedding that the prediction read. */
  readonly frames: number;
  readonly result: Extract<TaskResult, { kind: 'class' }>;
}

export interface TrackSequencer {
  /** Result task name added to faces (`<task>_sequence`, e.g. `emotion_sequence`). */
  readonly task: string;
  readonly labels: readonly string[];
  /**
   * Sliding window: adds each face's window prediction to its `attributes` and `smoothed` (the
   * window is itself the smoother). Whole track: only collects embeddings; the frame is unchanged.
   */
  step(frame: FrameResult): Promise<FrameResult>;
  /** Whole-track mode: each track's prediction over all its frames; window mode: none (the summary has the windows'). */
  finish(): Promise<TrackSequenceResult[]>;
}

/**
 * Feeds each track's per-frame embeddings from `frameModel` through the sequence model. A face
 * without an embedding (too small to classify) adds no frame. Window mode keeps N embeddings per
 * track and forgets ended tracks, so memory stays flat; `'track'` keeps every embedding of a track
 * until it ends (D × 4 bytes per frame: 1 kB for 256-d), then classifies it once.
 */
export function createTrackSequencer(classifier: SequenceClassifier, frameModel: string, window: SequenceWindow): TrackSequencer {
  const out = classifier.manifest.outputs[0];
  const task = `${out.task}_sequence`;
  const buffers = new Map<number, Float32Array[]>();
  const finished: TrackSequenceResult[] = [];
  const close = async (trackId: number): Promise<void> => {
    const frames = buffers.get(trackId);
    buffers.delete(trackId);
    if (frames !== undefined && frames.length > 0) finished.push({ trackId, frames: frames.length, result: await classifier.classify(frames) });
  };
  return {
    task,
    labels: out.labels,
    async step(frame) {
      const faces: TrackedFace[] = [];
      for (const f of frame.faces) {
        const e = f.embeddings?.[frameModel];
        if (e === undefined) {
          faces.push(f);
          continue;
        }
        const buf = buffers.get(f.trackId) ?? [];
        buf.push(Float32Array.from(e));
        if (window !== 'track' && buf.length > window) buf.shift();
        buffers.set(f.trackId, buf);
        if (window === 'track') {
          faces.push(f);
          continue;
        }
        const r = await classifier.classify(buf);
        faces.push({ ...f, attributes: { ...f.attributes, [task]: r }, smoothed: { ...f.smoothed, [task]: r } });
      }
      for (const id of frame.endedTrackIds) {
        if (window === 'track') await close(id);
        else buffers.delete(id);
      }
      return { ...frame, faces };
    },
    async finish() {
      if (window !== 'track') return [];
      for (const id of [...buffers.keys()].sort((a, b) => a - b)) await close(id);
      return [...finished].sort((a, b) => a.trackId - b.trackId);
    },
  };
}

export interface LoadedSequenceModel {
  readonly classifier: SequenceClassifier;
  /** Resolved .onnx of the frame model, for the analyzer's `models` (it must run with `embeddings: true`). */
  readonly frameModelPath: string;
  readonly frameModelId: string;
}

/** Resolves a sequence model and its frame model, checks that they fit together, opens the session. */
export async function loadSequenceModel(idOrPath: string, store: ModelStoreOptions = {}, session: SessionOptions = {}): Promise<LoadedSequenceModel> {
  const seq = await resolveSequenceModel(idOrPath, store);
  const frame = await createModelStore(store).resolveModel(seq.manifest.input.frameModel.id);
  checkFrameModel(seq.manifest, frame.manifest, seq.manifestPath);
  const classifier = await createSequenceClassifier(seq.modelPath, seq.manifest, session);
  return { classifier, frameModelPath: frame.modelPath, frameModelId: frame.manifest.id };
}
