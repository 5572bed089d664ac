import type { Detection, RgbImage } from '../types.js';
import { ModelError } from '../errors.js';
import { missingOutputs } from '../models/graph-check.js';
import type { InferenceBackend, ModelData, RgbResizer, SessionOptions } from '../platform.js';
import { resizeRgb } from '../resize.js';
import { decodeYunet, type YunetLevel } from './yunet-decode.js';
import { nms } from './nms.js';
import type { DetectOptions, FaceDetector } from './types.js';

export interface YunetOptions extends SessionOptions {
  /** The YuNet 2023mar ONNX file (dynamic-size or fixed 640×640 export): a path/URL or its bytes. */
  readonly model: ModelData;
  /**
   * Images whose longer side exceeds this are downscaled before detection; boxes are mapped
   * back to original pixels. Faces smaller than about 10 px after scaling are missed.
   * @default 640
   */
  readonly maxInputSide?: number;
  /** The detector's `name`, e.g. naming the weights file loaded. @default 'yunet' */
  readonly name?: string;
  /** Resizes the image to the detector's input. @default resizeRgb (pure TypeScript, every platform) */
  readonly resize?: RgbResizer;
}

const STRIDES = [8, 16, 32] as const;

/** Smallest face side (pixels of the detector's input) YuNet finds reliably. */
export const YUNET_SMALLEST_FACE_PX = 16;

/**
 * `scaleToMinFace` scales minFacePx to this face side in the detector's input: twice YuNet's
 * floor, where its landmarks are no less stable than at full resolution (src/core/detect/types.ts).
 */
export const SCALE_TO_MIN_FACE_PX = 2 * YUNET_SMALLEST_FACE_PX;

/**
 * YuNet face detector (Wu et al. 2023, OpenCV Zoo; Apache-2.0): a 75k-parameter anchor-free CNN
 * with 5 landmarks. Input is BGR 0..255 NCHW, padded bottom/right to a multiple of 32 (or to the
 * fixed size of a fixed-size export), as OpenCV's FaceDetectorYN does.
 */
export async function createYunetDetector(backend: InferenceBackend, options: YunetOptions): Promise<FaceDetector> {
  const sourceName = typeof options.model === 'string' ? options.model : 'yunet';
  const session = await backend.createSession(options.model, { ...options, sourceName });
  const missing = missingOutputs(session, STRIDES.flatMap((st) => [`cls_${st}`, `obj_${st}`, `bbox_${st}`, `kps_${st}`]));
  if (missing.length > 0) {
    await session.release();
    throw new ModelError('MODEL_INVALID', `not a YuNet 2023mar detector: ${missing.join('; ')}`, { source: sourceName });
  }
  const fixed = session.fixedInputSize;
  const maxSide = options.maxInputSide ?? 640;
  const inputName = session.inputNames[0]!;
  const resize = options.resize ?? resizeRgb;
  // Input tensors of finished runs, kept for the next detect of the same size: a fresh 4 MB
  // Float32Array per 640×480 frame costs more in page faults and zeroing than filling it does.
  const spare: Float32Array[] = [];

  async function detect(image: RgbImage, opts: DetectOptions): Promise<Detection[]> {
    const limit = fixed === undefined ? maxSide : Math.min(fixed.width, fixed.height);
    const capScale = Math.min(1, limit / Math.max(image.width, image.height));
    const wanted = opts.scaleToMinFace === true ? SCALE_TO_MIN_FACE_PX / Math.max(1, opts.minFacePx) : 1;
    // On an image YuNet takes as it is, a resize that shaves off less than half costs more than
    // YuNet saves (0.25-0.69x at 0.8x of 640x480, README Speed): scale only when it halves or more.
    const faceScale = capScale < 1 || wanted <= 0.5 ? wanted : 1;
    const scale = Math.min(capScale, faceScale);
    const sw = Math.max(1, Math.round(image.width * scale));
    const sh = Math.max(1, Math.round(image.height * scale));
    const tw = fixed?.width ?? Math.ceil(sw / 32) * 32;
    const th = fixed?.height ?? Math.ceil(sh / 32) * 32;
    const scaled = sw === image.width && sh === image.height ? image : await resize(image, sw, sh);
    const tensor = toBgrPlanar(scaled, tw, th, takeSpare(3 * tw * th));
    let out: Awaited<ReturnType<typeof session.run>>;
    try {
      out = await session.run({ [inputName]: { data: tensor, dims: [1, 3, th, tw] } });
    } finally {
      // A backend that transferred the buffer elsewhere left it detached (length 0): not reusable.
      if (tensor.length > 0) spare.push(tensor);
      if (spare.length > MAX_SPARE) spare.shift();
    }
    const get = (name: string) => {
      const t = out[name];
      if (t === undefined) throw new Error(`YuNet output ${name} missing`);
      return t.data;
    };
    const levels: YunetLevel[] = STRIDES.map((s) => ({ stride: s, cls: get(`cls_${s}`), obj: get(`obj_${s}`), bbox: get(`bbox_${s}`), kps: get(`kps_${s}`) }));
    const sx = image.width / sw;
    const sy = image.height / sh;
    const dets = decodeYunet(levels, tw, opts.scoreThreshold)
      .map((d) => mapBack(d, sx, sy))
      .filter((d) => Math.min(d.boxPx.width, d.boxPx.height) >= opts.minFacePx);
    return nms(dets, opts.nmsThreshold, opts.maxFaces);
  }

  /** A spare tensor of `length` elements, or undefined (the caller allocates). */
  function takeSpare(length: number): Float32Array | undefined {
    const k = spare.findIndex((t) => t.length === length);
    return k < 0 ? undefined : spare.splice(k, 1)[0];
  }

  return {
    name: options.name ?? 'yunet',
    detect,
    dispose: () => {
      spare.length = 0;
      return session.release();
    },
  };
}

/** Spare input tensors a detector keeps (one per detect in flight is enough; sizes rarely vary). */
const MAX_SPARE = 2;

/** HWC RGB uint8 → CHW BGR float32, zero-padded to tw×th; into `reuse` (any contents) when given. */
export function toBgrPlanar(img: RgbImage, tw: number, th: number, reuse?: Float32Array): Float32Array {
  const plane = tw * th;
  const out = reuse ?? new Float32Array(3 * plane);
  const bP = out.subarray(0, plane);
  const gP = out.subarray(plane, 2 * plane);
  const rP = out.subarray(2 * plane, 3 * plane);
  const { data, width, height } = img;
  let i = 0;
  for (let y = 0; y < height; y++) {
    let o = y * tw;
    for (const end = o + width; o < end; o++, i += 3) {
      rP[o] = data[i]!;
      gP[o] = data[i + 1]!;
      bP[o] = data[i + 2]!;
    }
    // The padding right of the image (a reused tensor holds an earlier frame there).
    if (reuse !== undefined && width < tw) for (const p of [bP, gP, rP]) p.fill(0, y * tw + width, (y + 1) * tw);
  }
  if (reuse !== undefined && height < th) for (const p of [bP, gP, rP]) p.fill(0, height * tw);
  return out;
}

function mapBack(d: Detection, sx: number, sy: number): Detection {
  const p = (q: { x: number; y: number }) => ({ x: q.x * sx, y: q.y * sy });
  const b = d.boxPx;
  const box = { x: b.x * sx, y: b.y * sy, width: b.width * sx, height: b.height * sy };
  const l = d.landmarksPx;
  return l === undefined
    ? { boxPx: box, score: d.score }
    : { boxPx: box, score: d.score, landmarksPx: { rightEye: p(l.rightEye), leftEye: p(l.leftEye), nose: p(l.nose), rightMouth: p(l.rightMouth), leftMouth: p(l.leftMouth) } };
}
