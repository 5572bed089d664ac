import type { Detection } from '../types.js';

/** Raw YuNet head outputs for one stride (batch 1), as flat arrays. */
export interface YunetLevel {
  readonly stride: number;
  readonly cls: Float32Array;
  readonly obj: Float32Array;
  readonly bbox: Float32Array;
  readonly kps: Float32Array;
}

/**
 * Decodes YuNet (2023mar) anchor-free outputs into detections in input-tensor pixels, following
 * OpenCV's FaceDetectorYN (modules/objdetect/src/face_detect.cpp): score = sqrt(cls · obj), box
 * centre = (col + dx, row + dy) · stride, size = exp(dw, dh) · stride, landmarks likewise.
 * `cols` is the number of grid columns of each level (inputWidth / stride).
 */
export function decodeYunet(levels: readonly YunetLevel[], inputWidth: number, scoreThreshold: number): Detection[] {
  const out: Detection[] = [];
  for (const { stride, cls, obj, bbox, kps } of levels) {
    const cols = Math.floor(inputWidth / stride);
    for (let i = 0; i < cls.length; i++) {
      const score = Math.sqrt(clamp01(cls[i]!) * clamp01(obj[i]!));
      if (score < scoreThreshold) continue;
      const r = Math.floor(i / cols);
      const c = i % cols;
      const cx = (c + bbox[4 * i]!) * stride;
      const cy = (r + bbox[4 * i + 1]!) * stride;
      const w = Math.exp(bbox[4 * i + 2]!) * stride;
      const h = Math.exp(bbox[4 * i + 3]!) * stride;
      const p = (k: number) => ({ x: (kps[10 * i + 2 * k]! + c) * stride, y: (kps[10 * i + 2 * k + 1]! + r) * stride });
      out.push({
        boxPx: { x: cx - w / 2, y: cy - h / 2, width: w, height: h },
        score,
        landmarksPx: { rightEye: p(0), leftEye: p(1), nose: p(2), rightMouth: p(3), leftMouth: p(4) },
      });
    }
  }
  return out;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
