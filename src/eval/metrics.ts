/**
 * Classification metrics over integer labels 0..k-1. Pure functions; tested against hand-computed
 * cases in test/metrics.test.ts.
 */

/** counts[t][p]: samples of true class t predicted as p. */
export function confusionMatrix(truth: readonly number[], pred: readonly number[], k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  truth.forEach((t, i) => m[t]![pred[i]!]!++);
  return m;
}

export interface PerClass {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly support: number;
}

export interface ClassificationReport {
  readonly n: number;
  readonly accuracy: number;
  /** Mean of per-class recall over classes with support. */
  readonly balancedAccuracy: number;
  readonly macroF1: number;
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
  const correct = c.reduce((a, row, i) => a + row[i]!, 0);
  return {
    n: truth.length,
    accuracy: truth.length === 0 ? 0 : correct / truth.length,
    balancedAccuracy: present.length === 0 ? 0 : present.reduce((a, p) => a + p.recall, 0) / present.length,
    macroF1: present.length === 0 ? 0 : present.reduce((a, p) => a + p.f1, 0) / present.length,
    perClass,
    confusion: c,
  };
}
