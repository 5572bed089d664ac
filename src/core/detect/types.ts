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
   * becomes SCALE_TO_MIN_FACE_PX = 32 px in the detector's input), boxes and landmarks mapped back
   * to input pixels (exactly: a 2× nearest-upscaled photo detected at 0.5 gives the original's
   * landmarks to 0.000 px). Faster when only large faces matter (raise minFacePx); at the default
   * minFacePx 20 the scale would be above 1, so nothing changes. YuNet's eyes move by ~10% of the
   * eye distance between any two scales (1.0 vs 0.9 as much as 1.0 vs 0.4, on multi_face.jpg) and
   * by 20–30% only when faces shrink to its 16 px floor, which the 32 px target stays clear of.
   * @default true
   */
  readonly scaleToMinFace?: boolean;
}

export const DEFAULT_DETECT_OPTIONS: DetectOptions = Object.freeze({
  scoreThreshold: 0.6,
  nmsThreshold: 0.3,
  maxFaces: 100,
  minFacePx: 20,
  scaleToMinFace: true,
});

/** A face detector. Boxes and landmarks are in pixels of the image it was given. */
export interface FaceDetector {
  readonly name: string;
  detect(image: RgbImage, options: DetectOptions): Promise<Detection[]>;
  dispose(): Promise<void>;
}
