import { ModelError } from '../errors.js';

/**
 * The JSON manifest that sits beside every `<id>.onnx`: everything the analyzer needs to feed the
 * model and read its outputs, plus provenance (data, terms, metrics, licence, checksum).
 * The training package writes it on export (training/export.py); docs/models.md describes it.
 */
export interface ModelManifest {
  readonly id: string;
  /** Manifest format version; currently 1. */
  readonly format: 1;
  readonly description?: string;
  /** Model file name relative to the manifest (default `<id>.onnx`). */
  readonly file?: string;
  readonly sha256?: string;
  /** Download location for weights that are not shipped; checked against `sha256`. */
  readonly url?: string;
  readonly licence?: string;
  readonly input: ModelInput;
  readonly outputs: readonly ModelOutput[];
  /**
   * Optional ONNX output holding each face's trunk features (the heads' input, `size` numbers):
   * what sequence models, projections and comparisons between faces read. Fetched only on request.
   */
  readonly embedding?: { readonly name: string; readonly size: number };
  /**
   * Optional ONNX outputs holding chosen layers' activation maps, [N, C, H, W] each (exported with
   * `python -m training.export --activations`): what `facesense explain --activations` draws.
   * Fetched only on request.
   */
  readonly activations?: readonly ActivationOutput[];
  readonly training?: {
    readonly data?: string;
    readonly terms?: string;
    readonly command?: string;
    readonly architecture?: string;
  };
  readonly metrics?: Readonly<Record<string, number | string>>;
}

export interface ModelInput {
  /** ONNX input tensor name. */
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly layout: 'NCHW' | 'NHWC';
  /** How a face is cropped for this model (see align.ts). */
  readonly crop: CropSpec;
  readonly normalisation: Normalisation;
}

/**
 * `aligned`: similarity transform from the eye landmarks: eyes level, inter-ocular distance =
 * `eyeDistance` × output width, eye midpoint at (0.5, `eyeY`) of the output.
 * `box`: the detector box, made square and scaled by `scale`, no rotation.
 * `none`: the input image is already a face crop; it is only resized.
 */
export type CropSpec =
  | { readonly mode: 'aligned'; readonly eyeDistance: number; readonly eyeY: number }
  | { readonly mode: 'box'; readonly scale: number }
  | { readonly mode: 'none' };

/**
 * `scale`: x·scale. `meanstd`: (x·scale − mean[c]) / std[c].
 * `gcn`: paper 000's global contrast normalisation: subtract the image mean, scale the image's L2
 * norm to `norm` (100), then per pixel subtract `pixelMean` and divide by `pixelStd` (H×W×C values
 * computed on the training set).
 */
export type Normalisation =
  | { readonly kind: 'scale'; readonly scale: number }
  | { readonly kind: 'meanstd'; readonly scale: number; readonly mean: readonly number[]; readonly std: readonly number[] }
  | {
      readonly kind: 'gcn';
      readonly norm: number;
      readonly pixelMean: readonly number[];
      readonly pixelStd: readonly number[];
    };

/**
 * Coarser groups of a value output, reported beside the value: band `labels[i]` holds the values v
 * with `starts[i] ≤ round(v) < starts[i + 1]` (whole units: ages are whole years); the last band is
 * open. E.g. age in paper 000's 17 five-year classes and in FairFace's 9 groups
 * (training/outputs.py `BANDS`).
 */
export interface ValueBands {
  readonly name: string;
  readonly labels: readonly string[];
  readonly starts: readonly number[];
}

/**
 * One task read from one output tensor.
 * `softmax` → label + scores; `sigmoid` → independent probabilities per label;
 * `expectation` → softmax over bins, value = Σ p·binValue (e.g. age in years);
 * `identity` → raw values (regression), one per label.
 */
export interface ModelOutput {
  /** Task name as it appears in results, e.g. `emotion`, `age`, `gender`. */
  readonly task: string;
  /** ONNX output tensor name. */
  readonly name: string;
  readonly decode: 'softmax' | 'sigmoid' | 'expectation' | 'identity';
  /** Labels in output order (for `expectation`: the bin names). */
  readonly labels: readonly string[];
  /** Bin centre values for `expectation`. */
  readonly binValues?: readonly number[];
  /** Value outputs (`expectation`, or `identity` with one label): bands reported with the value. */
  readonly bands?: readonly ValueBands[];
}

/** One layer's activation output: `channels` maps of `height` × `width` cells per face. */
export interface ActivationOutput {
  /** ONNX output tensor name (`act_<layer>`). */
  readonly name: string;
  /** The network's module name the maps come from (PyTorch's `named_modules()`, e.g. `stages.2`). */
  readonly layer: string;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

const CROP_MODES = new Set(['aligned', 'box', 'none']);
const NORM_KINDS = new Set(['scale', 'meanstd', 'gcn']);
const DECODES = new Set(['softmax', 'sigmoid', 'expectation', 'identity']);

function fail(source: string, what: string): never {
  throw new ModelError('MODEL_INVALID', `invalid manifest: ${what}`, { source });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

function numberArray(v: unknown, length?: number): boolean {
  return Array.isArray(v) && v.every((x) => typeof x === 'number' && Number.isFinite(x)) && (length === undefined || v.length === length);
}

/** Checks a parsed manifest's shape; throws a ModelError naming the first problem. */
export function validateManifest(value: unknown, source: string): ModelManifest {
  if (!isRecord(value)) fail(source, 'not a JSON object');
  if (value.kind === 'sequence') fail(source, 'this is a sequence model ("kind": "sequence", over embeddings, not pixels): pass it to `facesense video --sequence-model` or createSequenceClassifier');
  if (typeof value.id !== 'string' || value.id === '') fail(source, '"id" must be a non-empty string');
  if (value.format !== 1) fail(source, `"format" must be 1 (got ${JSON.stringify(value.format)})`);
  const input = value.input;
  if (!isRecord(input)) fail(source, '"input" must be an object');
  if (typeof input.name !== 'string') fail(source, '"input.name" must be a string');
  if (!positiveInt(input.width) || !positiveInt(input.height)) fail(source, '"input.width/height" must be positive integers');
  if (input.channels !== 1 && input.channels !== 3) fail(source, '"input.channels" must be 1 or 3');
  if (input.layout !== 'NCHW' && input.layout !== 'NHWC') fail(source, '"input.layout" must be NCHW or NHWC');
  const crop = input.crop;
  if (!isRecord(crop) || typeof crop.mode !== 'string' || !CROP_MODES.has(crop.mode)) fail(source, '"input.crop.mode" must be aligned, box or none');
  if (crop.mode === 'aligned' && !(typeof crop.eyeDistance === 'number' && typeof crop.eyeY === 'number')) {
    fail(source, '"input.crop" of mode aligned needs numeric eyeDistance and eyeY');
  }
  if (crop.mode === 'box' && typeof crop.scale !== 'number') fail(source, '"input.crop" of mode box needs a numeric scale');
  const norm = input.normalisation;
  if (!isRecord(norm) || typeof norm.kind !== 'string' || !NORM_KINDS.has(norm.kind)) fail(source, '"input.normalisation.kind" must be scale, meanstd or gcn');
  const c = input.channels;
  if (norm.kind === 'scale' && typeof norm.scale !== 'number') fail(source, 'normalisation scale needs "scale"');
  if (norm.kind === 'meanstd' && !(typeof norm.scale === 'number' && numberArray(norm.mean, c) && numberArray(norm.std, c))) {
    fail(source, `normalisation meanstd needs "scale" and "mean"/"std" arrays of ${c} numbers`);
  }
  // A zero (or negative) std divides every pixel by zero: every score NaN, reported as null.
  if (norm.kind === 'meanstd' && !(norm.std as number[]).every((v) => v > 0)) fail(source, 'normalisation meanstd needs every "std" > 0');
  if (norm.kind === 'gcn') {
    const n = (input.width as number) * (input.height as number) * c;
    if (typeof norm.norm !== 'number' || !numberArray(norm.pixelMean, n) || !numberArray(norm.pixelStd, n)) {
      fail(source, `normalisation gcn needs "norm" and "pixelMean"/"pixelStd" arrays of ${n} numbers`);
    }
    if (!(norm.pixelStd as number[]).every((v) => v > 0) || !(norm.norm > 0)) fail(source, 'normalisation gcn needs "norm" and every "pixelStd" > 0');
  }
  if (!Array.isArray(value.outputs) || value.outputs.length === 0) fail(source, '"outputs" must be a non-empty array');
  for (const [i, o] of value.outputs.entries()) {
    if (!isRecord(o)) fail(source, `outputs[${i}] must be an object`);
    if (typeof o.task !== 'string' || typeof o.name !== 'string') fail(source, `outputs[${i}] needs string "task" and "name"`);
    if (typeof o.decode !== 'string' || !DECODES.has(o.decode)) fail(source, `outputs[${i}].decode must be softmax, sigmoid, expectation or identity`);
    if (!Array.isArray(o.labels) || o.labels.length === 0 || !o.labels.every((l) => typeof l === 'string')) fail(source, `outputs[${i}].labels must be a non-empty array of strings`);
    if (o.decode === 'expectation' && !numberArray(o.binValues, o.labels.length)) {
      fail(source, `outputs[${i}] decodes by expectation and needs "binValues" with one number per label`);
    }
    if (o.bands !== undefined) {
      const valueOutput = o.decode === 'expectation' || (o.decode === 'identity' && o.labels.length === 1);
      if (!valueOutput) fail(source, `outputs[${i}].bands needs a value output (decode expectation, or identity with one label)`);
      if (!Array.isArray(o.bands)) fail(source, `outputs[${i}].bands must be an array`);
      for (const [j, b] of o.bands.entries()) {
        const ok =
          isRecord(b) &&
          typeof b.name === 'string' &&
          Array.isArray(b.labels) &&
          b.labels.length > 0 &&
          b.labels.every((l) => typeof l === 'string') &&
          numberArray(b.starts, b.labels.length) &&
          (b.starts as number[]).every((v, k, a) => k === 0 || v > a[k - 1]!);
        if (!ok) fail(source, `outputs[${i}].bands[${j}] needs a "name", "labels" and strictly increasing "starts", one per label`);
      }
    }
  }
  const emb = value.embedding;
  if (emb !== undefined) {
    const names = new Set(value.outputs.map((o) => (o as Record<string, unknown>).name));
    if (!isRecord(emb) || typeof emb.name !== 'string' || names.has(emb.name) || !(Number.isInteger(emb.size) && (emb.size as number) > 0)) {
      fail(source, '"embedding" needs a "name" distinct from the outputs\' names and a positive integer "size"');
    }
  }
  if (value.activations !== undefined) {
    if (!Array.isArray(value.activations)) fail(source, '"activations" must be an array');
    const taken = new Set<unknown>([...value.outputs.map((o) => (o as Record<string, unknown>).name), ...(isRecord(emb) ? [emb.name] : [])]);
    const layers = new Set<unknown>();
    for (const [i, a] of value.activations.entries()) {
      const ok =
        isRecord(a) &&
        typeof a.name === 'string' &&
        a.name !== '' &&
        !taken.has(a.name) &&
        typeof a.layer === 'string' &&
        a.layer !== '' &&
        !layers.has(a.layer) &&
        positiveInt(a.channels) &&
        positiveInt(a.height) &&
        positiveInt(a.width);
      if (!ok) fail(source, `activations[${i}] needs a "name" distinct from the other outputs' names, a "layer" named once, and positive integer "channels", "height" and "width"`);
      taken.add(a.name);
      layers.add(a.layer);
    }
  }
  return value as unknown as ModelManifest;
}
