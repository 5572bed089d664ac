import sharp from 'sharp';
import type { FaceResult } from '../core/analyzer.js';
import { layoutLabels } from '../core/label-layout.js';
import type { TaskResult } from '../core/postprocess.js';

/** Short label text for one task result. */
function describe(task: string, r: TaskResult): string {
  switch (r.kind) {
    case 'class':
      return `${task}: ${r.label} ${(r.score * 100).toFixed(0)}%`;
    case 'value':
      return `${task}: ${r.value.toFixed(1)}`;
    case 'multilabel':
    case 'values':
      return `${task}: ${Object.entries(r.kind === 'multilabel' ? r.scores : r.values).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' ')}`;
  }
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** What the labels show. */
export interface OverlayOptions {
  /**
   * Label lines to draw, by name: `id` (face number and detector score), `quality` (why a face is
   * unreliable), and task names (`emotion`, `age`, ...). Tasks listed here that a face lacks are
   * skipped; an empty list draws boxes and landmarks only. @default every line
   */
  readonly labels?: readonly string[];
}

/**
 * SVG overlay with each face's box, landmarks and label block, in image pixels; `names[i]`
 * replaces the `#i` tag (video track ids). Blocks have a dark background, stay inside the frame
 * and avoid other faces' boxes and labels (src/core/label-layout.ts).
 */
export function overlaySvg(width: number, height: number, faces: readonly FaceResult[], names?: readonly string[], options: OverlayOptions = {}): string {
  const stroke = Math.max(2, Math.round(Math.max(width, height) / 400));
  const font = Math.max(12, Math.round(Math.max(width, height) / 70));
  const lineH = font * 1.2;
  const pad = Math.round(font / 4);
  const show = (name: string) => options.labels === undefined || options.labels.includes(name);
  const blocks = faces.map((f, i) => {
    // Unreliable faces (src/core/quality.ts) are drawn in red with their reasons first, so nobody reads their labels as confident.
    const unreliable = f.quality !== undefined && !f.quality.reliable;
    const colour = f.skipped !== undefined ? '#ffab00' : unreliable ? '#ff5252' : '#00e676';
    const lines = [
      ...(show('id') ? [`${names?.[i] ?? `#${i}`} ${(f.score * 100).toFixed(0)}%`] : []),
      ...(unreliable && show('quality') ? [`unreliable: ${f.quality.reasons.join(', ')}`] : []),
      ...Object.entries(f.attributes).filter(([t]) => show(t)).map(([t, r]) => describe(t, r)),
      ...(f.skipped && show('quality') ? ['too small'] : []),
    ];
    // Text width estimate for a sans-serif font: about 0.6 em per character.
    const size = lines.length === 0 ? { width: 0, height: 0 } : { width: Math.ceil(Math.max(...lines.map((l) => l.length)) * font * 0.6) + 2 * pad, height: Math.ceil(lines.length * lineH) + 2 * pad };
    return { colour, lines, size };
  });
  const rects = layoutLabels(faces.map((f) => f.boxPx), blocks.map((b) => b.size), { width, height });
  const parts = faces.map((f, i) => {
    const b = f.boxPx;
    const { colour, lines } = blocks[i]!;
    const r = rects[i]!;
    const pts = f.landmarksPx === undefined ? [] : Object.values(f.landmarksPx);
    return [
      `<rect x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
      ...pts.map((p) => `<circle cx="${p.x}" cy="${p.y}" r="${stroke * 1.5}" fill="#ff1744"/>`),
      ...(lines.length === 0 ? [] : [`<rect x="${r.x}" y="${r.y}" width="${r.width}" height="${r.height}" fill="#000" fill-opacity="0.6" stroke="${colour}" stroke-width="1"/>`]),
      ...lines.map((l, k) => `<text x="${r.x + pad}" y="${r.y + pad + (k + 0.85) * lineH}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="${colour}">${escapeXml(l)}</text>`),
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** Writes `sourcePath` with the faces drawn on it to `outPath` (format from the extension). */
export async function writeAnnotated(sourcePath: string, faces: readonly FaceResult[], outPath: string, options: OverlayOptions = {}): Promise<void> {
  const base = sharp(sourcePath, { pages: 1 }).rotate();
  const { width, height } = await sharp(await base.clone().toBuffer()).metadata();
  if (width === undefined || height === undefined) throw new Error(`cannot size ${sourcePath}`);
  await base.composite([{ input: Buffer.from(overlaySvg(width, height, faces, undefined, options)), top: 0, left: 0 }]).toFile(outPath);
}
