/**
 * Viola–Jones face detector (Viola & Jones 2001/2004, "Robust real-time face detection"; with
 * Lienhart & Maydt's extended Haar features): OpenCV's stock Haar cascades evaluated in pure
 * TypeScript exactly as `cv::CascadeClassifier::detectMultiScale` evaluates them — gray
 * conversion, pyramid resize, scan pattern, cascade arithmetic and grouping reproduce OpenCV
 * 4.6's raw hits, boxes and neighbour counts bit for bit on the test photos. No neural weights:
 * it is the offline fallback and the baseline beside the YuNet CNN.
 *
 * Beyond OpenCV: the detector drops a weak box enclosing a strong face (dropEnclosingRects),
 * maps neighbour counts to scores, applies DetectOptions, and adds landmarks from the eye
 * cascade run inside each face box plus mean-face proportions (landmarks.ts) — coarse, good
 * enough to level the eyes for alignment.
 */
import { join } from 'node:path';
import { FacesenseError, ImageDecodeError, OptionError } from '../../../core/errors.js';
import type { Box, Detection, RgbImage } from '../../../core/types.js';
import { nms } from '../../../core/detect/nms.js';
import type { DetectOptions, FaceDetector } from '../../../core/detect/types.js';
import { loadHaarCascade } from './cascade.js';
import type { PreparedCascade } from './evaluate.js';
import { prepareCascade } from './evaluate.js';
import type { GroupedRect } from './group.js';
import { dropEnclosingRects } from './group.js';
import { grayFromRgb } from './integral.js';
import { EYE_SEARCH_BAND, pickEyes, synthesiseLandmarks } from './landmarks.js';
import type { GrayImage } from './multiscale.js';
import { detectMultiScale } from './multiscale.js';
import { resizeGrayBilinear } from './resize.js';

/** Where Debian/Ubuntu's `opencv-data` package installs the cascades. */
export const DEFAULT_HAAR_DIR = '/usr/share/opencv4/haarcascades';
export const DEFAULT_FACE_CASCADE = 'haarcascade_frontalface_default.xml';
export const DEFAULT_EYE_CASCADE = 'haarcascade_eye.xml';
/** Environment variable naming a folder that holds the default cascade files. */
export const HAAR_DIR_ENV = 'FACESENSE_HAAR_DIR';

export interface ViolaJonesOptions {
  /** Face cascade XML. Default: `$FACESENSE_HAAR_DIR` or DEFAULT_HAAR_DIR, haarcascade_frontalface_default.xml. */
  readonly faceCascadePath?: string;
  /** Eye cascade XML (default haarcascade_eye.xml beside the face default); `null` skips the eye search. */
  readonly eyeCascadePath?: string | null;
  /** Pyramid scale step, > 1. @default 1.1 (OpenCV's default) */
  readonly scaleFactor?: number;
  /** A face needs more than this many overlapping raw hits. @default 3 (OpenCV's default) */
  readonly minNeighbors?: number;
}

/**
 * Detection score from the neighbour count n of a grouped detection: n / (n + 2).
 * OpenCV's cascade gives no calibrated confidence; the number of raw windows merged into a face
 * is the usual stand-in (more overlapping hits across positions and scales ⇒ more likely a face).
 * The mapping is monotonic, 0 at n = 0 and → 1 as n grows; n = 3 gives exactly 0.6, so the
 * default scoreThreshold 0.6 keeps everything the default minNeighbors = 3 (n ≥ 4) keeps
 * (n = 4 → 0.67), and a higher threshold t asks for n ≥ 2t / (1 − t) (0.8 → 8, 0.9 → 18).
 * Real faces in the test photos get n = 38–74 (0.95–0.97); the sunglasses face gets 5 (0.71).
 */
export function neighborsToScore(neighbors: number): number {
  return neighbors > 0 ? neighbors / (neighbors + 2) : 0;
}

/** Resolve the default path of a cascade file: `$FACESENSE_HAAR_DIR/<file>` or the Debian folder. */
export function defaultCascadePath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env[HAAR_DIR_ENV];
  return join(dir !== undefined && dir !== '' ? dir : DEFAULT_HAAR_DIR, file);
}

/** Eye search: the face's eye band is resized so the face is this wide (eyes ≈ 20–40 px). */
const EYE_ROI_WIDTH = 120;
/** Faces narrower than this give the eye cascade too few pixels: use mean-face eyes. */
const MIN_FACE_FOR_EYES_PX = 36;

export async function createViolaJonesDetector(options: ViolaJonesOptions = {}): Promise<FaceDetector> {
  const scaleFactor = options.scaleFactor ?? 1.1;
  const minNeighbors = options.minNeighbors ?? 3;
  if (!Number.isFinite(scaleFactor) || scaleFactor <= 1) throw new OptionError(`scaleFactor must be a number > 1, got ${String(scaleFactor)}`);
  if (!Number.isInteger(minNeighbors) || minNeighbors < 0) throw new OptionError(`minNeighbors must be an integer >= 0, got ${String(minNeighbors)}`);
  const facePath = options.faceCascadePath ?? defaultCascadePath(DEFAULT_FACE_CASCADE);
  const eyePath = options.eyeCascadePath === null ? undefined : (options.eyeCascadePath ?? defaultCascadePath(DEFAULT_EYE_CASCADE));
  const [faceCascade, eyeCascade] = await Promise.all([loadHaarCascade(facePath), eyePath === undefined ? undefined : loadHaarCascade(eyePath)]);
  const face = prepareCascade(faceCascade);
  const eye = eyeCascade === undefined ? undefined : prepareCascade(eyeCascade);
  let disposed = false;

  async function detect(image: RgbImage, opts: DetectOptions): Promise<Detection[]> {
    if (disposed) throw new FacesenseError('DISPOSED', 'this Viola–Jones detector was disposed; create a new one');
    checkOptions(opts);
    checkImage(image);
    const gray: GrayImage = { data: grayFromRgb(image), width: image.width, height: image.height };
    const faces = detectMultiScale(face, gray, { scaleFactor, minNeighbors, minSizePx: opts.minFacePx });
    const scored = dropEnclosingRects(faces)
      .map((r) => ({ boxPx: { x: r.x, y: r.y, width: r.width, height: r.height }, score: neighborsToScore(r.neighbors) }))
      .filter((d) => d.score >= opts.scoreThreshold && Math.min(d.boxPx.width, d.boxPx.height) >= opts.minFacePx);
    return nms(scored, opts.nmsThreshold, opts.maxFaces).map((d) => ({
      ...d,
      landmarksPx: synthesiseLandmarks(d.boxPx, eye === undefined ? {} : pickEyes(d.boxPx, findEyes(eye, gray, d.boxPx, scaleFactor))),
    }));
  }

  return {
    name: 'viola-jones',
    detect,
    dispose: async () => {
      disposed = true;
    },
  };
}

/**
 * Eye-cascade hits (image pixels) inside the eye band of a face box. The band is resampled so
 * the face is EYE_ROI_WIDTH wide: eyes then span the 20-px eye window's useful range whatever
 * the face size, and the search costs the same for every face.
 */
function findEyes(eye: PreparedCascade, gray: GrayImage, box: Box, scaleFactor: number): GroupedRect[] {
  if (box.width < MIN_FACE_FOR_EYES_PX) return [];
  const x0 = Math.max(0, Math.round(box.x));
  const x1 = Math.min(gray.width, Math.round(box.x + box.width));
  const y0 = Math.max(0, Math.round(box.y + EYE_SEARCH_BAND.top * box.height));
  const y1 = Math.min(gray.height, Math.round(box.y + EYE_SEARCH_BAND.bottom * box.height));
  if (x1 - x0 < 2 || y1 - y0 < 2) return [];
  const scale = EYE_ROI_WIDTH / (x1 - x0);
  const roiWidth = EYE_ROI_WIDTH;
  const roiHeight = Math.max(1, Math.round((y1 - y0) * scale));
  if (roiHeight < eye.cascade.windowHeight) return [];
  const roi = resizeGrayBilinear({ data: gray.data, stride: gray.width, x: x0, y: y0, width: x1 - x0, height: y1 - y0 }, roiWidth, roiHeight);
  const hits = detectMultiScale(eye, { data: roi, width: roiWidth, height: roiHeight }, { scaleFactor, minNeighbors: 3, maxSizePx: Math.round(0.45 * roiWidth) });
  const sx = (x1 - x0) / roiWidth;
  const sy = (y1 - y0) / roiHeight;
  return hits.map((h) => ({ x: x0 + h.x * sx, y: y0 + h.y * sy, width: h.width * sx, height: h.height * sy, neighbors: h.neighbors }));
}

function checkOptions(opts: DetectOptions): void {
  const { scoreThreshold, nmsThreshold, maxFaces, minFacePx } = opts;
  if (!(scoreThreshold >= 0 && scoreThreshold <= 1)) throw new OptionError(`scoreThreshold must be in [0, 1], got ${String(scoreThreshold)}`);
  if (!(nmsThreshold >= 0 && nmsThreshold <= 1)) throw new OptionError(`nmsThreshold must be in [0, 1], got ${String(nmsThreshold)}`);
  if (!(maxFaces >= 0)) throw new OptionError(`maxFaces must be >= 0, got ${String(maxFaces)}`);
  if (!(minFacePx >= 0 && Number.isFinite(minFacePx))) throw new OptionError(`minFacePx must be a finite number >= 0, got ${String(minFacePx)}`);
}

function checkImage(image: RgbImage): void {
  const { width, height, data, channels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || channels !== 3 || data.length !== width * height * 3) {
    throw new ImageDecodeError('INVALID_PIXELS', `expected ${String(width)}×${String(height)} RGB pixels (${String(width * height * 3)} bytes), got ${String(data.length)} bytes with ${String(channels)} channels`);
  }
}
