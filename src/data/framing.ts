import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readNpy } from '../io/npy.js';
import type { FaceDetector } from '../core/detect/types.js';
import { DEFAULT_DETECT_OPTIONS } from '../core/detect/types.js';
import { warpAffine } from '../core/align.js';
import type { Image8 } from '../core/types.js';

/** Where the eyes sit in a dataset's pre-cropped faces, as fractions of the crop (see CropSpec `aligned`). */
export interface Framing {
  readonly eyeDistance: number;
  readonly eyeY: number;
  /** Faces the detector found among those tried. */
  readonly measured: number;
  readonly tried: number;
}

/**
 * Measures the framing of a pre-cropped dataset (FER2013, FER+, CK+48) so that faces found in
 * photos can be aligned to look like its training crops: the model manifest then asks for an
 * `aligned` crop with these eyeDistance/eyeY. Each crop is enlarged 3× and centred on a grey
 * canvas twice its size (detectors miss faces that fill the whole frame), YuNet finds the eyes,
 * and the medians over all crops where it found one face are returned.
 */
export async function measureFraming(crops: Iterable<Image8>, detector: FaceDetector): Promise<Framing | undefined> {
  const dists: number[] = [];
  const ys: number[] = [];
  let tried = 0;
  for (const crop of crops) {
    tried++;
    const k = 3;
    const canvas = 2 * k * Math.max(crop.width, crop.height);
    const ox = (canvas - k * crop.width) / 2;
    const oy = (canvas - k * crop.height) / 2;
    // Output pixel (u, v) samples crop pixel ((u − ox)/k, (v − oy)/k); borders replicate, which
    // is close enough to a neutral surround for the detector.
    const big = warpAffine(crop, { a: 1 / k, b: 0, c: 0, d: 1 / k, tx: -ox / k, ty: -oy / k }, canvas, canvas, 3);
    const found = await detector.detect({ data: big.data, width: canvas, height: canvas, channels: 3 }, { ...DEFAULT_DETECT_OPTIONS, scoreThreshold: 0.5, maxFaces: 2 });
    if (found.length !== 1 || found[0]!.landmarksPx === undefined) continue;
    const { rightEye: r, leftEye: l } = found[0]!.landmarksPx;
    dists.push(Math.hypot(l.x - r.x, l.y - r.y) / (k * crop.width));
    ys.push(((r.y + l.y) / 2 - oy) / (k * crop.height));
  }
  if (dists.length === 0) return undefined;
  return { eyeDistance: median(dists), eyeY: median(ys), measured: dists.length, tried };
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Measures the framing of a written pack's first split (at most `limit` crops) and records it in
 * its meta.json as `preprocessing.framing`; the exporter turns it into the manifest's crop.
 */
export async function addFramingToPack(dir: string, detector: FaceDetector, limit = 1000): Promise<Framing | undefined> {
  const metaPath = join(dir, 'meta.json');
  const meta = JSON.parse(await readFile(metaPath, 'utf8')) as { splits: Record<string, unknown>; preprocessing: Record<string, unknown> };
  const split = Object.keys(meta.splits)[0];
  if (split === undefined) return undefined;
  const x = await readNpy(join(dir, `${split}_x.npy`));
  const [n = 0, h = 0, w = 0, c = 1] = x.shape;
  const data = x.data as Uint8Array;
  const step = Math.max(1, Math.floor(n / limit));
  const crops = function* (): Generator<Image8> {
    for (let i = 0; i < n; i += step) yield { data: data.subarray(i * h * w * c, (i + 1) * h * w * c), width: w, height: h, channels: c as 1 | 3 };
  };
  const framing = await measureFraming(crops(), detector);
  if (framing === undefined) return undefined;
  meta.preprocessing = { ...meta.preprocessing, framing: { ...framing, detector: detector.name } };
  await writeFile(`${metaPath}.tmp`, `${JSON.stringify(meta, null, 2)}\n`);
  await rename(`${metaPath}.tmp`, metaPath);
  return framing;
}
