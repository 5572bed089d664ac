/**
 * One-vs-rest ranking curves: ROC (Fawcett, "An introduction to ROC analysis", 2006) and
 * precision-recall with average precision as scikit-learn defines it. Tied scores form one
 * threshold, so a tie between a positive and a negative contributes a diagonal step (half credit
 * to the AUC). Pure functions.
 */

export interface RocCurve {
  /** False-positive rate at each point, from (0, 0) to (1, 1). */
  readonly fpr: readonly number[];
  readonly tpr: readonly number[];
  /** Score threshold of each point (predict positive when score >= threshold); +Infinity at the origin. */
  readonly thresholds: readonly number[];
  readonly auc: number;
}

export interface PrCurve {
  /** Recall at each distinct threshold, highest threshold first (rising). */
  readonly recall: readonly number[];
  readonly precision: readonly number[];
  readonly thresholds: readonly number[];
  /** Σ (R_n − R_{n−1}) P_n over thresholds (no interpolation). */
  readonly averagePrecision: number;
}

interface Step {
  readonly tp: number;
  readonly fp: number;
  readonly threshold: number;
}

/** Cumulative true/false positives at each distinct score, highest score first. */
function steps(positive: readonly boolean[], scores: readonly number[]): Step[] {
  const order = scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const out: Step[] = [];
  let tp = 0;
  let fp = 0;
  order.forEach((idx, j) => {
    if (positive[idx]) tp++;
    else fp++;
    const next = order[j + 1];
    if (next === undefined || scores[next] !== scores[idx]) out.push({ tp, fp, threshold: scores[idx]! });
  });
  return out;
}

/** Area under a polyline by the trapezoid rule. */
export function trapezoid(x: readonly number[], y: readonly number[]): number {
  let a = 0;
  for (let i = 1; i < x.length; i++) a += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return a;
}

/**
 * ROC curve of `scores` for the `positive` samples; undefined when there are no positives or no
 * negatives (the curve does not exist). Collinear points are dropped: they change neither the
 * curve nor its area.
 */
export function rocCurve(positive: readonly boolean[], scores: readonly number[]): RocCurve | undefined {
  const p = positive.filter(Boolean).length;
  const n = positive.length - p;
  if (p === 0 || n === 0) return undefined;
  const all: Step[] = [{ tp: 0, fp: 0, threshold: Infinity }, ...steps(positive, scores)];
  const kept = all.filter((b, i) => {
    const a = all[i - 1];
    const c = all[i + 1];
    // Integer counts: the cross product is exact.
    return a === undefined || c === undefined || (b.fp - a.fp) * (c.tp - b.tp) !== (b.tp - a.tp) * (c.fp - b.fp);
  });
  let area = 0;
  for (let i = 1; i < kept.length; i++) area += ((kept[i]!.fp - kept[i - 1]!.fp) * (kept[i]!.tp + kept[i - 1]!.tp)) / 2;
  return { fpr: kept.map((s) => s.fp / n), tpr: kept.map((s) => s.tp / p), thresholds: kept.map((s) => s.threshold), auc: area / (p * n) };
}

/** Precision-recall curve; undefined when there are no positives. */
export function prCurve(positive: readonly boolean[], scores: readonly number[]): PrCurve | undefined {
  const p = positive.filter(Boolean).length;
  if (p === 0) return undefined;
  const s = steps(positive, scores);
  let ap = 0;
  let prev = 0;
  for (const { tp, fp } of s) {
    ap += (tp / p - prev) * (tp / (tp + fp));
    prev = tp / p;
  }
  return { recall: s.map((x) => x.tp / p), precision: s.map((x) => x.tp / (x.tp + x.fp)), thresholds: s.map((x) => x.threshold), averagePrecision: ap };
}

/** TPR of a ROC curve at `x`: the highest point with fpr <= x, joined linearly to the next. */
function tprAt(c: RocCurve, x: number): number {
  let a = 0;
  while (a + 1 < c.fpr.length && c.fpr[a + 1]! <= x) a++;
  const b = a + 1;
  if (b >= c.fpr.length) return c.tpr[a]!;
  const x0 = c.fpr[a]!;
  const x1 = c.fpr[b]!;
  return c.tpr[a]! + ((c.tpr[b]! - c.tpr[a]!) * (x - x0)) / (x1 - x0);
}

/**
 * Macro-average ROC curve: each class's TPR interpolated on a common FPR grid and averaged (as
 * scikit-learn's multiclass ROC example does). For plotting; the macro AUC to report is the mean
 * of the per-class AUCs.
 */
export function macroRoc(curves: readonly RocCurve[], points = 101): { fpr: number[]; tpr: number[] } {
  if (curves.length === 0) return { fpr: [], tpr: [] };
  const grid = Array.from({ length: points }, (_, i) => i / (points - 1));
  const tpr = grid.map((x) => curves.reduce((a, c) => a + tprAt(c, x), 0) / curves.length);
  return { fpr: [0, ...grid], tpr: [0, ...tpr] };
}
