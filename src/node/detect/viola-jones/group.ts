/**
 * OpenCV's `groupRectangles` (modules/objdetect/src/cascadedetect.cpp): cluster the raw
 * cascade hits, average each cluster, keep clusters with more than `groupThreshold` members
 * (CascadeClassifier's `minNeighbors`), and drop a cluster lying inside a stronger one.
 */
import { roundHalfEven } from './resize.js';

export interface Rect {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface GroupedRect extends Rect {
  /** Raw hits merged into this rectangle (OpenCV's `numDetections` / "neighbours"). */
  readonly neighbors: number;
}

/** OpenCV's `SimilarRects`: all four edges within eps · mean of the smaller sides. */
export function similarRects(a: Rect, b: Rect, eps: number): boolean {
  const delta = eps * (Math.min(a.width, b.width) + Math.min(a.height, b.height)) * 0.5;
  return (
    Math.abs(a.x - b.x) <= delta &&
    Math.abs(a.y - b.y) <= delta &&
    Math.abs(a.x + a.width - b.x - b.width) <= delta &&
    Math.abs(a.y + a.height - b.y - b.height) <= delta
  );
}

/**
 * Equivalence classes of the "similar" relation (transitive closure), labelled 0, 1, ... in order
 * of first appearance, as `cv::partition` labels them.
 */
export function partitionRects(rects: readonly Rect[], eps: number): { labels: Int32Array; count: number } {
  const n = rects.length;
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
  const find = (i: number): number => {
    let r = i;
    while ((parent[r] ?? r) !== r) r = parent[r] ?? r;
    while ((parent[i] ?? i) !== r) {
      const next = parent[i] ?? i;
      parent[i] = r;
      i = next;
    }
    return r;
  };
  // Similar rects differ in x by at most delta ≤ eps·(w_i + h_i)/2, so after sorting by x only a
  // window of neighbours needs testing: same classes as OpenCV's all-pairs loop, far fewer tests.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (rects[a]?.x ?? 0) - (rects[b]?.x ?? 0));
  for (let oi = 0; oi < n; oi++) {
    const i = order[oi] ?? 0;
    const a = rects[i];
    if (a === undefined) continue;
    const reach = eps * (a.width + a.height) * 0.5;
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj] ?? 0;
      const b = rects[j];
      if (b === undefined) continue;
      if (b.x - a.x > reach) break;
      if (similarRects(a, b, eps)) {
        const ra = find(i);
        const rb = find(j);
        if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
      }
    }
  }
  const labels = new Int32Array(n);
  const classOfRoot = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    let label = classOfRoot.get(root);
    if (label === undefined) {
      label = classOfRoot.size;
      classOfRoot.set(root, label);
    }
    labels[i] = label;
  }
  return { labels, count: classOfRoot.size };
}

/**
 * groupRectangles(rectList, weights, groupThreshold, eps). With groupThreshold ≤ 0 OpenCV
 * returns the rectangles unchanged (each with 1 neighbour).
 */
export function groupRectangles(rects: readonly Rect[], groupThreshold: number, eps = 0.2): GroupedRect[] {
  if (groupThreshold <= 0 || rects.length === 0) return rects.map((r) => ({ ...pick(r), neighbors: 1 }));
  const { labels, count } = partitionRects(rects, eps);
  const acc = new Float64Array(count * 4);
  const members = new Int32Array(count);
  rects.forEach((r, i) => {
    const c = labels[i] ?? 0;
    acc[c * 4] = (acc[c * 4] ?? 0) + r.x;
    acc[c * 4 + 1] = (acc[c * 4 + 1] ?? 0) + r.y;
    acc[c * 4 + 2] = (acc[c * 4 + 2] ?? 0) + r.width;
    acc[c * 4 + 3] = (acc[c * 4 + 3] ?? 0) + r.height;
    members[c] = (members[c] ?? 0) + 1;
  });
  const avg: Rect[] = [];
  for (let c = 0; c < count; c++) {
    // saturate_cast<int>(sum * (1.f / n)), in float as OpenCV computes it.
    const s = Math.fround(1 / (members[c] ?? 1));
    const mean = (k: number): number => roundHalfEven(Math.fround((acc[c * 4 + k] ?? 0) * s));
    avg.push({ x: mean(0), y: mean(1), width: mean(2), height: mean(3) });
  }
  const out: GroupedRect[] = [];
  for (let i = 0; i < count; i++) {
    const r1 = avg[i];
    const n1 = members[i] ?? 0;
    if (r1 === undefined || n1 <= groupThreshold) continue;
    // Filter out small rectangles inside large ones that have more support.
    let swallowed = false;
    for (let j = 0; j < count && !swallowed; j++) {
      const n2 = members[j] ?? 0;
      const r2 = avg[j];
      if (j === i || n2 <= groupThreshold || r2 === undefined) continue;
      const dx = roundHalfEven(r2.width * eps);
      const dy = roundHalfEven(r2.height * eps);
      swallowed =
        r1.x >= r2.x - dx &&
        r1.y >= r2.y - dy &&
        r1.x + r1.width <= r2.x + r2.width + dx &&
        r1.y + r1.height <= r2.y + r2.height + dy &&
        (n2 > Math.max(3, n1) || n1 < 3);
    }
    if (!swallowed) out.push({ ...r1, neighbors: n1 });
  }
  return out;
}

function pick(r: Rect): Rect {
  return { x: r.x, y: r.y, width: r.width, height: r.height };
}

/**
 * Not in OpenCV: drop a grouped rectangle that encloses a much better supported one of a
 * comparable size. OpenCV's last step removes small rectangles inside stronger large ones, but
 * keeps the converse — a weak large box around a strong face (e.g. a 4-hit box over a head and
 * shoulders around a 66-hit face in multi_face.jpg). A face cannot contain another face, so the
 * outer box is dropped when the inner one
 * - lies at least 80 % inside it,
 * - is at least 40 % of its width (a tiny strong hit inside a real face does not remove it), and
 * - has more than twice its neighbours.
 */
export function dropEnclosingRects(rects: readonly GroupedRect[]): GroupedRect[] {
  return rects.filter(
    (outer) =>
      !rects.some((inner) => {
        if (inner === outer || inner.neighbors <= 2 * outer.neighbors || inner.width < 0.4 * outer.width || inner.width >= outer.width) return false;
        const ix = Math.max(0, Math.min(inner.x + inner.width, outer.x + outer.width) - Math.max(inner.x, outer.x));
        const iy = Math.max(0, Math.min(inner.y + inner.height, outer.y + outer.height) - Math.max(inner.y, outer.y));
        return ix * iy >= 0.8 * inner.width * inner.height;
      }),
  );
}
