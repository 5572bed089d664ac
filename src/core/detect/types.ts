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
  /**
   * Run the detector on the image downscaled as far as `minFacePx` allows (a face of minFacePx
   * becomes the smallest the detector finds reliably), boxes and landmarks mapped back to input
   * pixels: faster when only large faces matter (raise minFacePx), but YuNet's landmarks move
   * with scale (eyes by 3–15% of the eye distance on multi_face.jpg at 0.4×), which moves the
   * aligned crops, so it is off by default. @default false
   */
  readonly scaleToMinFace?: boolean;
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
