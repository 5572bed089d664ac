import type { CropSpec } from './models/manifest.js';
import type { Detection, Image8, Point, RgbImage } from './types.js';

/**
 * Align stage (paper 000, §3): rotate in-plane so the eyes are level, scale so the inter-ocular
 * distance is a fixed fraction of the output, then sample bilinearly with replicated borders.
 * The same function prepares training data (`facesense prepare`) and inference crops, so a model
 * sees identical crops in both.
 */

/** Affine map from output pixel centres to input coordinates: x = a·u + b·v + tx, y = c·u + d·v + ty. */
export interface Affine {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly d: number;
  readonly tx: number;
  readonly ty: number;
}

export interface AlignOptions {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  readonly crop: CropSpec;
  /**
   * Extra context around the face as a fraction of the output size on each side: the face is
   * shrunk by 1 / (1 + 2·margin) about the output centre. @default 0
   */
  readonly margin?: number;
}

export interface AlignedFace {
  readonly image: Image8;
  /** Output → input mapping used (to map saliency or landmarks back onto the photo). */
  readonly transform: Affine;
  /** In-plane rotation of the eye line in the input, degrees, positive = clockwise in image coords. */
  readonly rollDeg: number;
  /** Distance between the eye centres in input pixels (NaN without landmarks). */
  readonly eyeDistancePx: number;
}

/** Builds the output→input affine for a crop spec; throws if `aligned` is asked without landmarks. */
export function cropTransform(det: Detection | undefined, image: { width: number; height: number }, opts: AlignOptions): { transform: Affine; rollDeg: number; eyeDistancePx: number } {
  const { width: W, height: H, crop } = opts;
  const shrink = 1 + 2 * (opts.margin ?? 0);
  if (crop.mode === 'none' || det === undefined) {
    // Whole input resized to the output, aspect ratio not kept (pre-cropped faces).
    return { transform: { a: image.width / W, b: 0, c: 0, d: image.height / H, tx: 0, ty: 0 }, rollDeg: 0, eyeDistancePx: Number.NaN };
  }
  if (crop.mode === 'box') {
    const { x, y, width, height } = det.boxPx;
    const side = Math.max(width, height) * crop.scale * shrink;
    const s = side / Math.max(W, H);
    const cx = x + width / 2;
    const cy = y + height / 2;
    return { transform: { a: s, b: 0, c: 0, d: s, tx: cx - (s * W) / 2, ty: cy - (s * H) / 2 }, rollDeg: 0, eyeDistancePx: eyeDistance(det) };
  }
  const lm = det.landmarksPx;
  if (lm === undefined) throw new Error('aligned crop needs eye landmarks; use a detector that gives them');
  const dx = lm.leftEye.x - lm.rightEye.x;
  const dy = lm.leftEye.y - lm.rightEye.y;
  const dIn = Math.hypot(dx, dy);
  const theta = Math.atan2(dy, dx);
  const dOut = (crop.eyeDistance * W) / shrink;
  const s = dIn / dOut; // input pixels per output pixel
  const cos = Math.cos(theta) * s;
  const sin = Math.sin(theta) * s;
  const mid: Point = { x: (lm.leftEye.x + lm.rightEye.x) / 2, y: (lm.leftEye.y + lm.rightEye.y) / 2 };
  const u0 = W / 2;
  const v0 = H / 2 + (crop.eyeY * H - H / 2) / shrink;
  // input = mid + R(theta)·s·(output − (u0, v0))
  return {
    transform: { a: cos, b: -sin, c: sin, d: cos, tx: mid.x - cos * u0 + sin * v0, ty: mid.y - sin * u0 - cos * v0 },
    rollDeg: (theta * 180) / Math.PI,
    eyeDistancePx: dIn,
  };
}

function eyeDistance(det: Detection): number {
  const lm = det.landmarksPx;
  return lm === undefined ? Number.NaN : Math.hypot(lm.leftEye.x - lm.rightEye.x, lm.leftEye.y - lm.rightEye.y);
}

/** Crops one face (or the whole image for mode `none`) as the model's input image. */
export function alignFace(image: RgbImage | Image8, det: Detection | undefined, opts: AlignOptions): AlignedFace {
  const t = cropTransform(det, image, opts);
  return { image: warpAffine(image, t.transform, opts.width, opts.height, opts.channels), ...t };
}

/**
 * Samples `src` at transformed output pixel centres, bilinear with replicated borders.
 * When the output is much smaller than the source region, each output pixel averages an n×n grid
 * of bilinear samples (n = ceil(scale), at most 4) so that downscaling does not alias.
 * RGB → gray uses ITU-R BT.601 weights, as OpenCV's cvtColor.
 */
export function warpAffine(src: RgbImage | Image8, m: Affine, outW: number, outH: number, outChannels: 1 | 3): Image8 {
  const out = new Uint8Array(outW * outH * outChannels);
  warpPixels(src, m, outW, outH, outChannels, (p, _u, q) => {
    for (let ch = 0; ch < outChannels; ch++) out[p * outChannels + ch] = q[ch]!;
  });
  return { data: out, width: outW, height: outH, channels: outChannels };
}

/**
 * The sampler of {@link warpAffine}, shared with the fused align+normalise pass (src/core/fused.ts)
 * so both give the same values: calls `emit(p, u, q)` for each output pixel p = v·outW + u, row-major,
 * with its rounded 8-bit value(s) in q[0 .. outChannels − 1]. Written without per-sample closures
 * or typed-array accumulators (the hot loop of alignment and of the detector's resize).
 */
export function warpPixels(src: RgbImage | Image8, m: Affine, outW: number, outH: number, outChannels: 1 | 3, emit: (p: number, u: number, q: Float64Array) => void): void {
  const { width: sw, height: sh, channels: sc, data } = src;
  const scale = Math.max(Math.hypot(m.a, m.c), Math.hypot(m.b, m.d));
  const n = Math.min(4, Math.max(1, Math.ceil(scale - 1e-6)));
  const k = 1 / (n * n);
  const gray = outChannels === 1 && sc === 3;
  const spread = outChannels === 3 && sc === 1;
  const rgb = sc === 3;
  const q = new Float64Array(3);
  // Sub-sample offsets within an output pixel, and the map's terms, hoisted out of the loops: every
  // product and sum below is the one the plain formula makes, in the same order, so the samples are
  // the same numbers bit for bit (the clamps are Math.min/max as comparisons, floor of a clamped,
  // non-negative coordinate is `| 0`).
  const offs = new Float64Array(n);
  for (let i = 0; i < n; i++) offs[i] = (i + 0.5) / n;
  const { a: ma, b: mb, c: mc, d: md, tx, ty } = m;
  const xMax = sw - 1;
  const yMax = sh - 1;
  const rowStride = sw * sc;
  // Whether every sample of the crop falls inside the image, away from the last row and column (the
  // map is affine: the extremes are at the corners of the sample grid; the margin covers rounding):
  // then the clamps below change nothing and are skipped (a face well inside the photo, the usual case).
  let inside = true;
  for (const uu of [offs[0]!, outW - 1 + offs[n - 1]!]) {
    for (const vv of [offs[0]!, outH - 1 + offs[n - 1]!]) {
      const fx = ma * uu + mb * vv + tx - 0.5;
      const fy = mc * uu + md * vv + ty - 0.5;
      if (!(fx >= 1e-3 && fx <= xMax - 1e-3 && fy >= 1e-3 && fy <= yMax - 1e-3)) inside = false;
    }
  }
  for (let v = 0; v < outH; v++) {
    for (let u = 0; u < outW; u++) {
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      for (let j = 0; j < n; j++) {
        const vv = v + offs[j]!;
        const bv = mb * vv;
        const dv = md * vv;
        for (let i = 0; i < n; i++) {
          const uu = u + offs[i]!;
          // pixel centres are at integer + 0.5; convert to sample-grid coordinates
          let fx = ma * uu + bv + tx - 0.5;
          let fy = mc * uu + dv + ty - 0.5;
          let i00: number;
          let i01: number;
          let i10: number;
          let i11: number;
          if (inside) {
            // The clamps would change nothing: the four neighbours are the next column and row.
            i00 = ((fy | 0) * sw + (fx | 0)) * sc;
            i01 = i00 + sc;
            i10 = i00 + rowStride;
            i11 = i10 + sc;
          } else {
            fx = fx > 0 ? (fx < xMax ? fx : xMax) : fx < 0 ? 0 : fx;
            fy = fy > 0 ? (fy < yMax ? fy : yMax) : fy < 0 ? 0 : fy;
            const x0 = fx | 0;
            const y0 = fy | 0;
            const x1 = x0 < xMax ? x0 + 1 : xMax;
            const r0 = y0 * sw;
            const r1 = (y0 < yMax ? y0 + 1 : yMax) * sw;
            i00 = (r0 + x0) * sc;
            i01 = (r0 + x1) * sc;
            i10 = (r1 + x0) * sc;
            i11 = (r1 + x1) * sc;
          }
          const wx = fx - (fx | 0);
          const wy = fy - (fy | 0);
          const iwx = 1 - wx;
          const iwy = 1 - wy;
          a0 += (data[i00]! * iwx + data[i01]! * wx) * iwy + (data[i10]! * iwx + data[i11]! * wx) * wy;
          if (rgb) {
            a1 += (data[i00 + 1]! * iwx + data[i01 + 1]! * wx) * iwy + (data[i10 + 1]! * iwx + data[i11 + 1]! * wx) * wy;
            a2 += (data[i00 + 2]! * iwx + data[i01 + 2]! * wx) * iwy + (data[i10 + 2]! * iwx + data[i11 + 2]! * wx) * wy;
          }
        }
      }
      // RGB → gray with ITU-R BT.601 weights, as OpenCV's cvtColor.
      if (gray) q[0] = Math.round((0.299 * a0 + 0.587 * a1 + 0.114 * a2) * k);
      else if (spread) q[0] = q[1] = q[2] = Math.round(a0 * k);
      else {
        q[0] = Math.round(a0 * k);
        q[1] = Math.round(a1 * k);
        q[2] = Math.round(a2 * k);
      }
      emit(v * outW + u, u, q);
    }
  }
}

/** Maps a point from output (crop) coordinates back to input image pixels. */
export function mapToInput(m: Affine, p: Point): Point {
  return { x: m.a * p.x + m.b * p.y + m.tx, y: m.c * p.x + m.d * p.y + m.ty };
}

/** Inverse of an affine (input → output). */
export function invertAffine(m: Affine): Affine {
  const det = m.a * m.d - m.b * m.c;
  const a = m.d / det;
  const b = -m.b / det;
  const c = -m.c / det;
  const d = m.a / det;
  return { a, b, c, d, tx: -(a * m.tx + b * m.ty), ty: -(c * m.tx + d * m.ty) };
}

