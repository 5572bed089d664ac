import type { Box } from '../types.js';

export function iou(a: Box, b: Box): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression: indices of kept items, highest score first.
 * Stops after `maxKeep` items.
 */
export function nms<T extends { readonly boxPx: Box; readonly score: number }>(items: readonly T[], iouThreshold: number, maxKeep = Infinity): T[] {
  const order = [...items].sort((a, b) => b.score - a.score);
  const kept: T[] = [];
  for (const cand of order) {
    if (kept.length >= maxKeep) break;
    if (kept.every((k) => iou(k.boxPx, cand.boxPx) <= iouThreshold)) kept.push(cand);
  }
  return kept;
}
