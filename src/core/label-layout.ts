/**
 * Where each face's label block goes on an annotated image: inside the frame, not over another
 * face's box and not over another label. A pure function of boxes and block sizes, so the
 * drawing code (annotate.ts) stays a plain SVG writer and the layout can be tested directly.
 */
import type { Box } from './types.js';

function overlap(a: Box, b: Box): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return w > 0 && h > 0 ? w * h : 0;
}

function clampInside(r: Box, width: number, height: number): Box {
  const x = Math.min(Math.max(0, r.x), Math.max(0, width - r.width));
  const y = Math.min(Math.max(0, r.y), Math.max(0, height - r.height));
  return { x, y, width: r.width, height: r.height };
}

/**
 * One rectangle per face for a label block of `sizes[i]` (width, height): the first of below,
 * above, right of and left of the box (each slid along the box edge and clamped into the frame)
 * that overlaps no face box and no block placed before it; failing that, the free spot of the
 * frame nearest to the face; failing that (no free spot), the candidate with the least overlap. Faces are placed in order of their box's top edge, so blocks stack downwards.
 */
export function layoutLabels(boxes: readonly Box[], sizes: readonly { width: number; height: number }[], frame: { width: number; height: number }, gap = 2): Box[] {
  const placed: (Box | undefined)[] = boxes.map(() => undefined);
  const order = boxes.map((_, i) => i).sort((a, b) => boxes[a]!.y - boxes[b]!.y);
  for (const i of order) {
    const b = boxes[i]!;
    const { width: w, height: h } = sizes[i]!;
    const slides = [0, -0.5, 0.5, -1, 1].map((k) => k * w);
    const candidates: Box[] = [];
    for (const dx of slides) candidates.push({ x: b.x + dx, y: b.y + b.height + gap, width: w, height: h });
    for (const dx of slides) candidates.push({ x: b.x + dx, y: b.y - h - gap, width: w, height: h });
    for (const dy of [0, b.height - h, -h]) candidates.push({ x: b.x + b.width + gap, y: b.y + dy, width: w, height: h });
    for (const dy of [0, b.height - h, -h]) candidates.push({ x: b.x - w - gap, y: b.y + dy, width: w, height: h });
    let best: Box | undefined;
    let bestCost = Infinity;
    for (const c of candidates.map((r) => clampInside(r, frame.width, frame.height))) {
      const others = [...boxes, ...placed.filter((p): p is Box => p !== undefined)];
      const cost = others.reduce((sum, o) => sum + overlap(c, o), 0);
      if (cost < bestCost) {
        best = c;
        bestCost = cost;
        if (cost === 0) break;
      }
    }
    if (bestCost > 0) {
      // Crowded: the free spot of the frame nearest to the face, on a grid of a quarter block.
      const others = [...boxes, ...placed.filter((p): p is Box => p !== undefined)];
      const step = Math.max(4, Math.floor(Math.min(w, h) / 4));
      const cx = b.x + b.width / 2;
      const cy = b.y + b.height / 2;
      let bestDist = Infinity;
      for (let y = 0; y + h <= frame.height; y += step) {
        for (let x = 0; x + w <= frame.width; x += step) {
          const c = { x, y, width: w, height: h };
          const d = Math.hypot(x + w / 2 - cx, y + h / 2 - cy);
          if (d < bestDist && others.every((o) => overlap(c, o) === 0)) {
            best = c;
            bestDist = d;
          }
        }
      }
    }
    placed[i] = best;
  }
  return placed.map((p) => p!);
}
