import sharp from 'sharp';
import type { FaceResult } from '../core/analyzer.js';
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

/** SVG overlay with each face's box, landmarks and labels, in image pixels; `names[i]` replaces the `#i` tag (video track ids). */
export function overlaySvg(width: number, height: number, faces: readonly FaceResult[], names?: readonly string[]): string {
  const stroke = Math.max(2, Math.round(Math.max(width, height) / 400));
  const font = Math.max(12, Math.round(Math.max(width, height) / 70));
  const parts = faces.map((f, i) => {
    const b = f.boxPx;
    const colour = f.skipped === undefined ? '#00e676' : '#ffab00';
    const lines = [`${names?.[i] ?? `#${i}`} ${(f.score * 100).toFixed(0)}%`, ...Object.entries(f.attributes).map(([t, r]) => describe(t, r)), ...(f.skipped ? ['too small'] : [])];
    const pts = f.landmarksPx === undefined ? [] : Object.values(f.landmarksPx);
    const textY = b.y + b.height + font;
    return [
      `<rect x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" fill="none" stroke="${colour}" stroke-width="${stroke}"/>`,
      ...pts.map((p) => `<circle cx="${p.x}" cy="${p.y}" r="${stroke * 1.5}" fill="#ff1744"/>`),
      ...lines.map(
        (l, k) =>
          `<text x="${b.x}" y="${textY + k * font * 1.15}" font-family="DejaVu Sans, sans-serif" font-size="${font}" fill="${colour}" stroke="#000" stroke-width="${font / 12}" paint-order="stroke">${escapeXml(l)}</text>`,
      ),
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** Writes `sourcePath` with the faces drawn on it to `outPath` (format from the extension). */
export async function writeAnnotated(sourcePath: string, faces: readonly FaceResult[], outPath: string): Promise<void> {
  const base = sharp(sourcePath, { pages: 1 }).rotate();
  const { width, height } = await sharp(await base.clone().toBuffer()).metadata();
  if (width === undefined || height === undefined) throw new Error(`cannot size ${sourcePath}`);
  await base.composite([{ input: Buffer.from(overlaySvg(width, height, faces)), top: 0, left: 0 }]).toFile(outPath);
}
