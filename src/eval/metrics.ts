/**
 * Classification metrics over integer labels 0..k-1. Pure functions; tested against hand-computed
 * cases and known identities in test/metrics.test.ts.
 */

/** counts[t][p]: samples of true class t predicted as p. */
export function confusionMatrix(truth: readonly number[], pred: readonly number[], k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  truth.forEach((t, i) => m[t]![pred[i]!]!++);
  return m;
}

/** Each row divided by its sum (the fraction of class t predicted as p); a row with no samples stays 0. */
export function rowNormalise(m: readonly (readonly number[])[]): number[][] {
  return m.map((row) => {
    const sum = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (sum === 0 ? 0 : v / sum));
  });
}

export interface PerClass {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

export interface Averages {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
}

export interface ClassificationReport {
  readonly n: number;
  readonly accuracy: number;
  /** Mean of per-class recall over classes with support (= macro.recall). */
  readonly balancedAccuracy: number;
  /** = macro.f1. */
  readonly macroF1: number;
  /** Unweighted means over classes with support. */
  readonly macro: Averages;
  /** Means weighted by support (weighted recall equals accuracy). */
  readonly weighted: Averages;
  readonly perClass: readonly PerClass[];
  readonly confusion: readonly (readonly number[])[];
}

export function classificationReport(truth: readonly number[], pred: readonly number[], k: number): ClassificationReport {
  const c = confusionMatrix(truth, pred, k);
  const perClass = c.map((row, i) => {
    const tp = row[i]!;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = c.reduce((a, r) => a + r[i]!, 0);
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    return { precision, recall, f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall), support };
  });
  const present = perClass.filter((p) => p.support > 0);
  const n = truth.length;
  const mean = (f: (p: PerClass) => number) => (present.length === 0 ? 0 : present.reduce((a, p) => a + f(p), 0) / present.length);
  const wmean = (f: (p: PerClass) => number) => (n === 0 ? 0 : present.reduce((a, p) => a + p.support * f(p), 0) / n);
  const macro = { precision: mean((p) => p.precision), recall: mean((p) => p.recall), f1: mean((p) => p.f1) };
  const correct = c.reduce((a, row, i) => a + row[i]!, 0);
  return {
    n,
    accuracy: n === 0 ? 0 : correct / n,
    balancedAccuracy: macro.recall,
    macroF1: macro.f1,
    macro,
    weighted: { precision: wmean((p) => p.precision), recall: wmean((p) => p.recall), f1: wmean((p) => p.f1) },
    perClass,
    confusion: c,
  };
}

/** Index of the largest score; the first one on ties. */
export function argmax(scores: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}

/**
 * Fraction of samples whose true class is among the k highest scores. Ties are broken at random
 * in expectation: with g classes scored strictly above the true one and e others equal to it, a
 * sample counts min(1, max(0, (k − g) / (e + 1))). So a constant scorer gets k/K, not 1.
 */
export function topKAccuracy(truth: readonly number[], scores: readonly (readonly number[])[], k: number): number {
  if (truth.length === 0) return 0;
  let hits = 0;
  truth.forEach((t, i) => {
    const row = scores[i]!;
    const s = row[t]!;
    let greater = 0;
    let equal = 0;
    row.forEach((v, j) => {
      if (j === t) return;
      if (v > s) greater++;
      else if (v === s) equal++;
    });
    hits += Math.min(1, Math.max(0, (k - greater) / (equal + 1)));
  });
  return hits / truth.length;
}
