import type { Landmarks5 } from './types.js';

/** Head orientation in degrees. yaw > 0: the face turns towards the image's right; pitch > 0: chin down; roll: eye line angle, clockwise positive. */
export interface HeadPose {
  readonly yawDeg: number;
  readonly pitchDeg: number;
  readonly rollDeg: number;
}

/**
 * 3-D mean face for the 5 landmarks, millimetres; x towards the image's right, y down, z towards
 * the camera; origin between the eyes. Proportions from anthropometric averages (inter-pupil
 * ~62 mm, nose tip ~38 mm below the eye line and ~24 mm in front, mouth corners ~72 mm below).
 */
const MEAN_FACE: readonly (readonly [number, number, number])[] = [
  [-31, 0, 0], // rightEye (image left)
  [31, 0, 0], // leftEye
  [0, 38, 24], // nose tip
  [-24, 72, 4], // rightMouth
  [24, 72, 4], // leftMouth
];

/** Projects the mean face with a pose (scaled orthographic), for tests and synthetic data. */
export function projectMeanFace(pose: HeadPose, scale = 1, at = { x: 0, y: 0 }): Landmarks5 {
  const R = rotation(pose);
  const p = MEAN_FACE.map(([X, Y, Z]) => ({
    x: at.x + scale * (R[0]![0]! * X + R[0]![1]! * Y + R[0]![2]! * Z),
    y: at.y + scale * (R[1]![0]! * X + R[1]![1]! * Y + R[1]![2]! * Z),
  }));
  return { rightEye: p[0]!, leftEye: p[1]!, nose: p[2]!, rightMouth: p[3]!, leftMouth: p[4]! };
}

/** R = Rz(roll) · Ry(yaw) · Rx(pitch). */
function rotation({ yawDeg, pitchDeg, rollDeg }: HeadPose): number[][] {
  const [y, p, r] = [yawDeg, pitchDeg, rollDeg].map((d) => (d * Math.PI) / 180) as [number, number, number];
  const cy = Math.cos(y), sy = Math.sin(y), cp = Math.cos(p), sp = Math.sin(p), cr = Math.cos(r), sr = Math.sin(r);
  return [
    [cr * cy, cr * sy * sp - sr * cp, cr * sy * cp + sr * sp],
    [sr * cy, sr * sy * sp + cr * cp, sr * sy * cp - cr * sp],
    [-sy, cy * sp, cy * cp],
  ];
}

/**
 * Head pose from 5 landmarks by fitting the mean face under scaled orthographic projection
 * (least-squares affine camera, then the nearest rotation): adequate for faces a metre or more
 * from the camera. With only 5 points, yaw and pitch errors of 5–10° are expected on real faces
 * (the mean face does not fit every face); roll follows the eye line closely.
 */
export function estimatePose(lm: Landmarks5): HeadPose {
  const pts = [lm.rightEye, lm.leftEye, lm.nose, lm.rightMouth, lm.leftMouth];
  const mx = pts.reduce((s, p) => s + p.x, 0) / 5;
  const my = pts.reduce((s, p) => s + p.y, 0) / 5;
  const M = [0, 1, 2].map((k) => MEAN_FACE.reduce((s, q) => s + q[k]!, 0) / 5);
  const X = MEAN_FACE.map((q) => q.map((v, k) => v - M[k]!));
  // Normal equations: A (2×3) = (x^T X)(X^T X)^{-1}
  const XtX = [0, 1, 2].map((i) => [0, 1, 2].map((j) => X.reduce((s, r) => s + r[i]! * r[j]!, 0)));
  const inv = invert3(XtX);
  const xs = pts.map((p) => [p.x - mx, p.y - my]);
  const xtX = [0, 1].map((i) => [0, 1, 2].map((j) => xs.reduce((s, x, n) => s + x[i]! * X[n]![j]!, 0)));
  const A = xtX.map((row) => [0, 1, 2].map((j) => row.reduce((s, v, k) => s + v * inv[k]![j]!, 0)));
  const r1 = normalise(A[0]!);
  let r2 = A[1]!.map((v, k) => v - dot(A[1]!, r1) * r1[k]!);
  r2 = normalise(r2);
  const r3 = [r1[1]! * r2[2]! - r1[2]! * r2[1]!, r1[2]! * r2[0]! - r1[0]! * r2[2]!, r1[0]! * r2[1]! - r1[1]! * r2[0]!];
  const deg = (v: number) => (v * 180) / Math.PI;
  return {
    yawDeg: deg(-Math.asin(Math.max(-1, Math.min(1, r3[0]!)))),
    pitchDeg: deg(Math.atan2(r3[1]!, r3[2]!)),
    rollDeg: deg(Math.atan2(r2[0]!, r1[0]!)),
  };
}

function dot(a: number[], b: number[]): number {
  return a.reduce((s, v, i) => s + v * b[i]!, 0);
}

function normalise(a: number[]): number[] {
  const n = Math.hypot(...a);
  return a.map((v) => v / n);
}

function invert3(m: number[][]): number[][] {
  const [a, b, c] = m[0]! as [number, number, number];
  const [d, e, f] = m[1]! as [number, number, number];
  const [g, h, i] = m[2]! as [number, number, number];
  const A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  const det = a * A + b * B + c * C;
  return [
    [A / det, -(b * i - c * h) / det, (b * f - c * e) / det],
    [B / det, (a * i - c * g) / det, -(a * f - c * d) / det],
    [C / det, -(a * h - b * g) / det, (a * e - b * d) / det],
  ];
}
