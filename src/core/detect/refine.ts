import { cropTransform, mapToInput, warpAffine } from '../align.js';
import type { Detection, Image8, Landmarks5, Point, RgbImage } from '../types.js';
import type { DetectOptions, FaceDetector } from './types.js';

/**
 * Landmark refinement for rotated faces. Detectors such as YuNet place landmarks with a bias
 * towards upright faces: on single_face.jpg rotated by ±25° the eye line they report is 3–5° short
 * of the truth and the eye distance up to 16% off. Refinement rotates a window around the face
 * upright by the current estimate, detects again there (at several scales and mirrored, whose
 * landmark errors partly cancel), averages the landmarks mapped back into the image, and repeats.
 * Measured on single_face.jpg (test/align.test.ts): two iterations leave under 0.5° and 1.1%.
 */
export interface RefineOptions {
  /** Detect-and-realign rounds. @default 2 */
  readonly iterations?: number;
  /** Side of the square upright window the detector sees, pixels. @default 256 */
  readonly windowPx?: number;
  /** Eye distance as fractions of the window side; one detection (two with `flip`) per entry. @default [0.2, 0.25, 0.3] */
  readonly eyeFractions?: readonly number[];
  /** Also detect on the mirrored window and average. @default true */
  readonly flip?: boolean;
}

export async function refineLandmarks(detector: FaceDetector, image: RgbImage | Image8, det: Detection, detect: DetectOptions, opts: RefineOptions = {}): Promise<Detection> {
  const W = opts.windowPx ?? 256;
  const fractions = opts.eyeFractions ?? [0.2, 0.25, 0.3];
  const flip = opts.flip ?? true;
  // Inside the window the face is upright and large: accept any detection near its centre.
  const windowDetect: DetectOptions = { ...detect, scoreThreshold: Math.min(detect.scoreThreshold, 0.3), minFacePx: 8, maxFaces: 10 };
  let current = det;
  for (let k = 0; k < (opts.iterations ?? 2); k++) {
    if (current.landmarksPx === undefined) return current;
    const found: Landmarks5[] = [];
    for (const eyeDistance of fractions) {
      const { transform } = cropTransform(current, image, { width: W, height: W, channels: 3, crop: { mode: 'aligned', eyeDistance, eyeY: 0.45 } });
      const win = toRgb(warpAffine(image, transform, W, W, 3));
      const views: [RgbImage, boolean][] = flip ? [[win, false], [mirror(win), true]] : [[win, false]];
      for (const [view, mirrored] of views) {
        const lm = centralLandmarks(await detector.detect(view, windowDetect), { x: W / 2, y: 0.45 * W }, eyeDistance * W);
        if (lm !== undefined) found.push(mapLandmarks(mirrored ? unmirror(lm, W) : lm, (p) => mapToInput(transform, p)));
      }
    }
    if (found.length === 0) return current;
    current = { ...current, landmarksPx: mean(found) };
  }
  return current;
}

/** Landmarks of the detection whose eye midpoint is nearest the expected one, if it is close enough. */
function centralLandmarks(dets: readonly Detection[], expected: Point, eyeDistancePx: number): Landmarks5 | undefined {
  let best: Landmarks5 | undefined;
  let bestD = eyeDistancePx * 0.5;
  for (const d of dets) {
    const lm = d.landmarksPx;
    if (lm === undefined) continue;
    const dist = Math.hypot((lm.leftEye.x + lm.rightEye.x) / 2 - expected.x, (lm.leftEye.y + lm.rightEye.y) / 2 - expected.y);
    if (dist < bestD) [best, bestD] = [lm, dist];
  }
  return best;
}

function mapLandmarks(lm: Landmarks5, f: (p: Point) => Point): Landmarks5 {
  return { rightEye: f(lm.rightEye), leftEye: f(lm.leftEye), nose: f(lm.nose), rightMouth: f(lm.rightMouth), leftMouth: f(lm.leftMouth) };
}

/** Landmarks found on a mirrored window, back in the window's frame: x flips and left/right swap. */
function unmirror(lm: Landmarks5, W: number): Landmarks5 {
  const m = (p: Point): Point => ({ x: W - p.x, y: p.y });
  return { rightEye: m(lm.leftEye), leftEye: m(lm.rightEye), nose: m(lm.nose), rightMouth: m(lm.leftMouth), leftMouth: m(lm.rightMouth) };
}

function mean(all: readonly Landmarks5[]): Landmarks5 {
  const avg = (k: keyof Landmarks5): Point => ({ x: all.reduce((a, l) => a + l[k].x, 0) / all.length, y: all.reduce((a, l) => a + l[k].y, 0) / all.length });
  return { rightEye: avg('rightEye'), leftEye: avg('leftEye'), nose: avg('nose'), rightMouth: avg('rightMouth'), leftMouth: avg('leftMouth') };
}

function toRgb(img: Image8): RgbImage {
  return { data: img.data, width: img.width, height: img.height, channels: 3 };
}

function mirror(img: RgbImage): RgbImage {
  const { width: w, height: h, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + (w - 1 - x)) * 3;
      const d = (y * w + x) * 3;
      out[d] = data[s]!;
      out[d + 1] = data[s + 1]!;
      out[d + 2] = data[s + 2]!;
    }
  }
  return { ...img, data: out };
}
