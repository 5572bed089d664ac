/** The Node platform: sharp decoding, onnxruntime-node, the file-system model store, Haar detection. */
import { createClassifier as createClassifierOn, type Classifier } from '../core/infer.js';
import { createYunetDetector as createYunetDetectorOn, type YunetOptions } from '../core/detect/yunet.js';
import type { FaceDetector } from '../core/detect/types.js';
import type { ModelManifest } from '../core/models/manifest.js';
import type { ModelSource, Platform, SessionOptions } from '../core/platform.js';
import type { ImageInput } from '../core/types.js';
import { decodeImage } from './decode.js';
import { createModelStore, type ModelStore, type ModelStoreOptions } from './models/store.js';
import { nodeBackend } from './onnx.js';
import { sharpResizeRgb } from './resize.js';

/** A model store as the analyzer's model source: models are handed over as file paths. */
export function storeSource(store: ModelStore): ModelSource {
  return {
    async resolveModel(idOrPath) {
      const r = await store.resolveModel(idOrPath);
      return { id: r.id, manifest: r.manifest, model: r.modelPath };
    },
    resolveFile: (entry) => store.resolveFile(entry),
  };
}

/**
 * The detector's input resize in Node: `sharp` (native; the default) or `portable`, the core's
 * pure-TypeScript resize that the browser uses, for detector input identical to the browser's.
 */
export type NodeDetectorResize = 'sharp' | 'portable';

/** Everything the core analyzer needs, from Node. */
export function nodePlatform(store: ModelStoreOptions = {}, resize: NodeDetectorResize = 'sharp'): Platform<ImageInput> {
  return {
    backend: nodeBackend,
    decode: decodeImage,
    models: storeSource(createModelStore(store)),
    ...(resize === 'sharp' ? { resize: sharpResizeRgb } : {}),
    detectors: { 'viola-jones': async () => (await import('./detect/viola-jones/index.js')).createViolaJonesDetector() },
  };
}

/** YuNet on onnxruntime-node from a file path. */
export function createYunetDetector(options: Omit<YunetOptions, 'model'> & { readonly modelPath: string }): Promise<FaceDetector> {
  const { modelPath, ...rest } = options;
  return createYunetDetectorOn(nodeBackend, { resize: sharpResizeRgb, ...rest, model: modelPath });
}

/** A classifier on onnxruntime-node from a file path. */
export function createClassifier(modelPath: string, manifest: ModelManifest, options: SessionOptions = {}): Promise<Classifier> {
  return createClassifierOn(nodeBackend, modelPath, manifest, options);
}
