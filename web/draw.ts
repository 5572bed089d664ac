/**
 * Drawing results over an image or a video: boxes, landmarks and a label per face on a dark
 * background, kept inside the frame and moved so two labels never overlap.
 */
import type { FaceResult, TaskResult } from '../src/web/index.js';

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

const overlaps = (a: Rect, b: Rect) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/** One short line per face: expression, age, gender, glasses. */
export function faceLabel(face: FaceResult, attributes: Readonly<Record<string, TaskResult>> = face.attributes, prefix = ''): string {
  if (face.skipped !== undefined) return `${prefix}too small`;
  const parts: string[] = [];
  for (const task of ['emotion', 'age', 'gender', 'glasses']) {
    const r = attributes[task];
    if (r === undefined) continue;
    if (r.kind === 'class') parts.push(task === 'glasses' ? (r.label === 'none' || r.label === 'no' ? '' : r.label) : `${r.label} ${Math.round(r.score * 100)}%`);
    else if (r.kind === 'value') parts.push(`${Math.round(r.value)} y`);
  }
  return prefix + parts.filter((p) => p !== '').join(' · ');
}

export function drawFaces(ctx: CanvasRenderingContext2D, faces: readonly { face: FaceResult; label: string }[], scale = 1): void {
  const { width: W, height: H } = ctx.canvas;
  const font = Math.max(12, Math.round(Math.min(W, H) / 40));
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.lineWidth = Math.max(2, font / 7);
  const placed: Rect[] = [];
  for (const { face, label } of faces) {
    const b = face.boxPx;
    const x = b.x * scale;
    const y = b.y * scale;
    const w = b.width * scale;
    const h = b.height * scale;
    ctx.strokeStyle = face.skipped === undefined ? '#3fd17a' : '#f0a030';
    ctx.strokeRect(x, y, w, h);
    const lm = face.landmarksPx;
    if (lm !== undefined) {
      ctx.fillStyle = '#ffe14d';
      for (const p of [lm.rightEye, lm.leftEye, lm.nose, lm.rightMouth, lm.leftMouth]) {
        ctx.beginPath();
        ctx.arc(p.x * scale, p.y * scale, Math.max(2, font / 6), 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    const tw = ctx.measureText(label).width + 8;
    const th = font + 6;
    // Above the box, else below it, else further down until it is clear of the labels already drawn.
    const candidates = [y - th - 2, y + h + 2];
    for (let k = 1; k < 12; k++) candidates.push(y + h + 2 + k * th);
    let rect: Rect = { x: 0, y: 0, w: tw, h: th };
    for (const cy of candidates) {
      rect = { x: Math.min(Math.max(0, x), Math.max(0, W - tw)), y: Math.min(Math.max(0, cy), Math.max(0, H - th)), w: tw, h: th };
      if (!placed.some((p) => overlaps(p, rect))) break;
    }
    placed.push(rect);
    ctx.fillStyle = 'rgba(10, 20, 30, 0.78)';
    ctx.fillRect(rect.x, rect.y, rect.w, rect.h);
    ctx.fillStyle = '#fff';
    ctx.textBaseline = 'top';
    ctx.fillText(label, rect.x + 4, rect.y + 3);
  }
}
