/**
 * Drawing results over an image or a video: boxes, landmarks and a label block per face on a dark
 * background, placed by the shared layout (src/core/label-layout.ts, as the Node annotation): inside
 * the frame, off other faces' boxes and labels. Faces the quality flags mark unreliable are drawn
 * in red with a dashed box and their reasons first, so nobody reads their labels as confident.
 */
import { layoutLabels, type FaceResult, type TaskResult } from '../src/web/index.js';

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

const COLOURS = { ok: '#3fd17a', unreliable: '#ff5252', skipped: '#f0a030' } as const;

/** How a face is drawn: its colour, whether its box is dashed, and its label lines (quality reasons first). */
export function faceStyle(face: FaceResult, label: string): { colour: string; dashed: boolean; lines: string[] } {
  if (face.skipped !== undefined) return { colour: COLOURS.skipped, dashed: true, lines: [label] };
  const q = face.quality;
  if (q !== undefined && !q.reliable) return { colour: COLOURS.unreliable, dashed: true, lines: [`unreliable: ${q.reasons.join(', ')}`, label] };
  return { colour: COLOURS.ok, dashed: false, lines: [label] };
}

/** What was drawn for one face: its label block's rectangle and lines (for the page's accessible text and the tests). */
export interface DrawnLabel {
  readonly rect: { x: number; y: number; width: number; height: number };
  readonly lines: readonly string[];
  readonly unreliable: boolean;
}

export function drawFaces(ctx: CanvasRenderingContext2D, faces: readonly { face: FaceResult; label: string }[], scale = 1): DrawnLabel[] {
  const { width: W, height: H } = ctx.canvas;
  const font = Math.max(12, Math.round(Math.min(W, H) / 40));
  const lineH = font + 4;
  const pad = 4;
  ctx.font = `600 ${font}px system-ui, sans-serif`;
  ctx.lineWidth = Math.max(2, font / 7);
  ctx.textBaseline = 'top';
  const styled = faces.map(({ face, label }) => {
    const s = faceStyle(face, label);
    const b = face.boxPx;
    const box = { x: b.x * scale, y: b.y * scale, width: b.width * scale, height: b.height * scale };
    const size = { width: Math.ceil(Math.max(...s.lines.map((l) => ctx.measureText(l).width))) + 2 * pad, height: s.lines.length * lineH + 2 * pad - 4 };
    return { face, box, size, ...s };
  });
  const rects = layoutLabels(styled.map((f) => f.box), styled.map((f) => f.size), { width: W, height: H });
  for (const { face, box, colour, dashed } of styled) {
    ctx.strokeStyle = colour;
    ctx.setLineDash(dashed ? [font / 2, font / 3] : []);
    ctx.strokeRect(box.x, box.y, box.width, box.height);
    const lm = face.landmarksPx;
    if (lm !== undefined) {
      ctx.fillStyle = '#ffe14d';
      for (const p of [lm.rightEye, lm.leftEye, lm.nose, lm.rightMouth, lm.leftMouth]) {
        ctx.beginPath();
        ctx.arc(p.x * scale, p.y * scale, Math.max(2, font / 6), 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }
  ctx.setLineDash([]);
  styled.forEach(({ colour, lines }, i) => {
    const r = rects[i]!;
    ctx.fillStyle = 'rgba(10, 20, 30, 0.78)';
    ctx.fillRect(r.x, r.y, r.width, r.height);
    ctx.fillStyle = colour;
    ctx.fillRect(r.x, r.y, 3, r.height);
    lines.forEach((line, k) => {
      ctx.fillStyle = k === 0 && lines.length > 1 ? colour : '#fff';
      ctx.fillText(line, r.x + pad, r.y + pad + k * lineH);
    });
  });
  return styled.map(({ lines, colour }, i) => ({ rect: rects[i]!, lines, unreliable: colour === COLOURS.unreliable }));
}
