/** Plain data types shared by every stage. Units are in the names (`Px`, `Deg`). */

/** Interleaved 8-bit pixels, row-major. `channels` is 1 (gray), 3 (RGB) or 4 (RGBA). */
export interface RawImage {
  readonly data: Uint8Array | Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3 | 4;
}

/** What the decode stage returns: always 8-bit RGB, EXIF orientation applied. */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 3;
}

/** Interleaved 8-bit image with 1 or 3 channels (aligned crops). */
export interface Image8 {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
}

export interface Point {
  readonly x: number;
  readonly y: number;
}

/** Axis-aligned box in pixels of the original image: top-left corner plus size. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Five facial landmarks in pixels of the original image, in image terms: `rightEye` is the eye on
 * the image's left side (the subject's right eye), as YuNet and RetinaFace order them.
 */
export interface Landmarks5 {
  readonly rightEye: Point;
  readonly leftEye: Point;
  readonly nose: Point;
  readonly rightMouth: Point;
  readonly leftMouth: Point;
}

/** A detector's output for one face. */
export interface Detection {
  readonly boxPx: Box;
  readonly score: number;
  /** Absent when the detector gives no landmarks (the `none` detector). */
  readonly landmarksPx?: Landmarks5;
}

/** Any input the analyzer accepts: a file path, encoded bytes, or raw pixels. */
export type ImageInput = string | Uint8Array | RawImage;
