import { ModelError } from '../errors.js';

/**
 * Third-party weights that facesense uses but does not train (face detectors). They carry no
 * manifest: their pre- and post-processing lives in the detector code, so all the store needs is
 * the file name, the checksum that pins the exact file, and where to download it when there is a
 * public location. Resolve one with `store.resolveFile(getWeightsEntry(id))`.
 */
export interface WeightsEntry {
  /** Stable id used in options and on the command line, e.g. `yunet`. */
  readonly id: string;
  /** File name looked up in every searched directory (a plain name, no directories). */
  readonly file: string;
  /** Lower-case hex SHA-256 of the file; downloads are always checked against it. */
  readonly sha256: string;
  /** SPDX licence id of the weights. */
  readonly licence: string;
  /** Public download location, when one is known. */
  readonly url?: string;
  readonly description: string;
}

/** Ids of the built-in weights table. */
export type WeightsId = 'yunet' | 'yunet-640' | 'ultraface-320';

/** The built-in weights table, frozen (entries included). */
export const WEIGHTS_REGISTRY: Readonly<Record<WeightsId, WeightsEntry>> = Object.freeze({
  yunet: Object.freeze({
    id: 'yunet',
    file: 'yunet_dynamic.onnx',
    sha256: 'daede24002cc8590f457998cc5e6c9e8b82f45f6bd969506a8913cd4ed10a2d3',
    licence: 'Apache-2.0',
    description:
      'YuNet face detector (OpenCV Zoo) exported with a dynamic input shape: float32 NCHW [batch, 3, H, W], ' +
      'any H and W divisible by 32; boxes plus 5 landmarks. No public download: place the file in FACESENSE_MODELS.',
  }),
  'yunet-640': Object.freeze({
    id: 'yunet-640',
    file: 'yunet_2023mar_640.onnx',
    sha256: '8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4',
    licence: 'Apache-2.0',
    url: 'https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx',
    description:
      'YuNet face detector (OpenCV Zoo, 2023mar) with a fixed input: float32 NCHW [1, 3, 640, 640]; boxes plus 5 landmarks.',
  }),
  'ultraface-320': Object.freeze({
    id: 'ultraface-320',
    file: 'ultraface_rfb_320.onnx',
    sha256: '34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017',
    licence: 'MIT',
    url: 'https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/raw/master/models/onnx/version-RFB-320.onnx',
    description:
      'Ultra-Light-Fast-Generic-Face-Detector-1MB, RFB variant, fixed input float32 NCHW [1, 3, 240, 320] (320 wide); boxes only, no landmarks.',
  }),
});

/** True when `id` names an entry of the built-in weights table. */
export function isWeightsId(id: string): id is WeightsId {
  return Object.prototype.hasOwnProperty.call(WEIGHTS_REGISTRY, id);
}

/** The built-in entry for `id`; throws MODEL_NOT_FOUND listing the known ids otherwise. */
export function getWeightsEntry(id: string): WeightsEntry {
  if (isWeightsId(id)) return WEIGHTS_REGISTRY[id];
  throw new ModelError(
    'MODEL_NOT_FOUND',
    `unknown detector weights id; known ids: ${Object.keys(WEIGHTS_REGISTRY).join(', ')}`,
    { source: id },
  );
}
