/**
 * The seam between the portable core and a platform (Node, browser). The core never imports a
 * runtime: the analyzer is handed an inference backend, an image decoder and a model source, and
 * everything it passes across is plain data (typed arrays, numbers, manifests).
 */
import type { FaceDetector } from './detect/types.js';
import type { ModelManifest } from './models/manifest.js';
import type { RgbImage } from './types.js';

/**
 * A model as a platform hands it to its backend: a location its backend can open (a file path in
 * Node, a URL in a browser) or the `.onnx` bytes themselves.
 */
export type ModelData = string | Uint8Array;

/** A float32 tensor crossing the seam: row-major data and its dims. */
export interface TensorData {
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

export interface SessionOptions {
  /** Threads ONNX Runtime may use inside one operator. @default 0 (ONNX Runtime decides: one per core) */
  readonly threads?: number;
}

/** One loaded model. */
export interface InferenceSession {
  readonly inputNames: readonly string[];
  /** The graph's output names (checked against a manifest at load: src/core/models/graph-check.ts). */
  readonly outputNames: readonly string[];
  /** Dims of the named input as the graph declares them (symbolic dims as strings), when known. */
  inputShape(name: string): readonly (number | string)[] | undefined;
  /** Static height/width of the first (NCHW) input, or undefined where a dim is symbolic. */
  readonly fixedInputSize: { readonly width: number; readonly height: number } | undefined;
  /** Runs the model; returns the named outputs (all of them when `outputNames` is absent). */
  run(feeds: Readonly<Record<string, TensorData>>, outputNames?: readonly string[]): Promise<Record<string, TensorData>>;
  release(): Promise<void>;
}

/** An ONNX Runtime build (onnxruntime-node, onnxruntime-web). */
export interface InferenceBackend {
  /** For messages and model information, e.g. `onnxruntime-node` or `onnxruntime-web/wasm`. */
  readonly name: string;
  /** Loads a model; a load failure is a ModelError naming `sourceName`. */
  createSession(model: ModelData, options: SessionOptions & { readonly sourceName: string }): Promise<InferenceSession>;
}

/** What the decode stage is told besides its input. */
export interface DecodeOptions {
  /**
   * Refuse images with more pixels than this (width × height), before decoding them, to guard
   * against decompression bombs. @default 100_000_000
   */
  readonly pixelLimit: number;
  /** Name used in error messages for inputs that are not file paths. @default '<buffer>' */
  readonly sourceName?: string;
}

export const DEFAULT_DECODE_OPTIONS: DecodeOptions = Object.freeze({ pixelLimit: 100_000_000 });

/** The decode stage of a platform: any input it accepts → 8-bit RGB; bad input is an ImageDecodeError. */
export type ImageDecoder<I> = (input: I, options: DecodeOptions) => Promise<RgbImage>;

/** A single file to locate (e.g. a registry entry of detector weights). */
export interface FileEntry {
  /** Id used in messages and progress events. */
  readonly id: string;
  /** Plain file name (no directories) looked up in every searched location. */
  readonly file: string;
  /** Other plain names of the same file (e.g. its upstream name), tried in each directory after `file` (Node model store). */
  readonly aliases?: readonly string[];
  /** Lower-case hex SHA-256, checked on download (and on disk with `verifyLocal`). */
  readonly sha256?: string;
  /** Where to download the file from when it is found nowhere. */
  readonly url?: string;
}

/** A classifier model as a model source finds it. */
export interface SourcedModel {
  readonly id: string;
  readonly manifest: ModelManifest;
  readonly model: ModelData;
}

/** Where models come from (a directory search in Node, URLs + Cache API in a browser). */
export interface ModelSource {
  /** A classifier model by id (or, where the platform has them, path); MODEL_NOT_FOUND when absent. */
  resolveModel(idOrPath: string): Promise<SourcedModel>;
  /** A manifest-less weights file (detectors). */
  resolveFile(entry: FileEntry): Promise<ModelData>;
}

/**
 * Resizes RGB pixels to width × height (aspect ratio not kept): the detector's input. The core's
 * pure-TypeScript `resizeRgb` (src/core/resize.ts) runs everywhere; a platform with a native
 * resampler (sharp in Node) may hand in its own, which is faster on large photos.
 */
export type RgbResizer = (image: RgbImage, width: number, height: number) => RgbImage | Promise<RgbImage>;

/** Everything the analyzer needs from its platform. `I` is the input type its decoder accepts. */
export interface Platform<I> {
  readonly backend: InferenceBackend;
  readonly decode: ImageDecoder<I>;
  readonly models: ModelSource;
  /** The detector's input resize. @default the core's resizeRgb (pure TypeScript) */
  readonly resize?: RgbResizer;
  /** Detectors only this platform has (Node: `viola-jones`, which reads OpenCV's Haar files). */
  readonly detectors?: Readonly<Record<string, () => Promise<FaceDetector>>>;
}
