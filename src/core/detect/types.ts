import type { Detection, RgbImage } from '../types.js';

/** Per-call detection options. Defaults live in DEFAULT_DETECT_OPTIONS. */
export interface DetectOptions {
  /** Minimum detector confidence in [0, 1]. @default 0.6 */
  readonly scoreThreshold: number;
  /** IoU above which overlapping boxes are suppressed. @default 0.3 */
  readonly nmsThreshold: number;
  /** Keep at most this many faces, highest score first. @default 100 */
  readonly maxFaces: number;
  /** Ignore faces whose box is smaller than this many pixels on its shorter side. @default 20 */
  readonly minFacePx: number;
}

export const DEFAULT_DETECT_OPTIONS: DetectOptions = Object.freeze({
  scoreThreshold: 0.6,
  nmsThreshold: 0.3,
  maxFaces: 100,
  minFacePx: 20,
});

/** A face detector. Boxes and landmarks are in pixels of the image it was given. */
export interface FaceDetector {
  readonly name: string;
  detect(image: RgbImage, options: DetectOptions): Promise<Detection[]>;
  dispose(): Promise<void>;
}
