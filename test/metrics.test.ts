import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bootstrapDifference, bootstrapMean, mulberry32, normalDifference, quantile } from '../src/eval/bootstrap.js';
import { expectedCalibrationError, reliabilityBins } from '../src/eval/calibration.js';
import { macroRoc, prCurve, rocCurve, trapezoid } from '../src/eval/curves.js';
import { argmax, classificationReport, confusionMatrix, rowNormalise, topKAccuracy } from '../src/eval/metrics.js';

test('confusion matrix counts sum to n and put hits on the diagonal', () => {
  const m = confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
  assert.deepEqual(m, [[1, 1, 0], [0, 1, 0], [1, 0, 2]]);
  assert.equal(m.flat().reduce((a, b) => a + b, 0), 6);
});

test('report matches hand-computed precision, recall, F1 and balanced accuracy', () => {
  const r = classificationReport([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
  assert.equal(r.accuracy, 4 / 6);
  assert.deepEqual(r.perClass.map((p) => p.support), [2, 1, 3]);
  assert.equal(r.perClass[0]!.precision, 1 / 2);
  assert.equal(r.perClass[0]!.recall, 1 / 2);
  assert.equal(r.perClass[1]!.precision, 1 / 2);
  assert.equal(r.perClass[1]!.recall, 1);
  assert.ok(Math.abs(r.perClass[1]!.f1 - 2 / 3) < 1e-12);
  assert.equal(r.perClass[2]!.precision, 1);
  assert.ok(Math.abs(r.balancedAccuracy - (1 / 2 + 1 + 2 / 3) / 3) < 1e-12);
});

test('perfect and constant predictors', () => {
  const truth = [0, 1, 2, 3, 0, 1];
  assert.equal(classificationReport(truth, truth, 4).accuracy, 1);
  assert.equal(classificationReport(truth, truth, 4).balancedAccuracy, 1);
  const constant = classificationReport(truth, truth.map(() => 0), 4);
  assert.equal(constant.accuracy, 2 / 6);
  assert.equal(constant.balancedAccuracy, 1 / 4);
});

// ---- averages, normalised confusion, top-k -------------------------------------------------

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

test('weighted averages match hand computation, and weighted recall is accuracy', () => {
  const r = classificationReport([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
  // per class P = [1/2, 1/2, 1], R = [1/2, 1, 2/3], F1 = [1/2, 2/3, 4/5], support [2, 1, 3]
  close(r.weighted.precision, (2 * 0.5 + 0.5 + 3 * 1) / 6);
  close(r.weighted.recall, r.accuracy);
  close(r.weighted.f1, (2 * 0.5 + 2 / 3 + 3 * 0.8) / 6);
  close(r.macro.precision, 2 / 3);
  close(r.macro.recall, r.balancedAccuracy);
  close(r.macro.f1, r.macroF1);
  close(r.macro.f1, (0.5 + 2 / 3 + 0.8) / 3);
});

test('confusion sums: rows are supports, columns are predicted counts; normalised rows sum to 1', () => {
  const truth = [0, 0, 1, 2, 2, 2, 1, 0];
  const pred = [0, 2, 1, 2, 0, 2, 0, 0];
  const m = confusionMatrix(truth, pred, 4);
  assert.deepEqual(m.map((row) => row.reduce((a, b) => a + b, 0)), [3, 2, 3, 0]);
  assert.deepEqual([0, 1, 2, 3].map((j) => m.reduce((a, row) => a + row[j]!, 0)), [4, 1, 3, 0]);
  const n = rowNormalise(m);
  n.slice(0, 3).forEach((row) => close(row.reduce((a, b) => a + b, 0), 1));
  assert.deepEqual(n[3], [0, 0, 0, 0]);
  close(n[0]![2]!, 1 / 3);
});

test('top-k accuracy: hand case, perfect and constant scorers, k = K', () => {
  const scores = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.2, 0.3, 0.5]];
  const truth = [1, 2, 0];
  assert.equal(topKAccuracy(truth, scores, 1), 0);
  close(topKAccuracy(truth, scores, 2), 2 / 3);
  assert.equal(topKAccuracy(truth, scores, 3), 1);
  assert.equal(topKAccuracy([0, 1, 2], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], 1), 1);
  // Ties count in expectation: a constant scorer over K classes gets k/K.
  const constant = [0, 1, 2, 3].map(() => [0.25, 0.25, 0.25, 0.25]);
  close(topKAccuracy([0, 1, 2, 3], constant, 1), 1 / 4);
  close(topKAccuracy([0, 1, 2, 3], constant, 3), 3 / 4);
  assert.equal(argmax([0.2, 0.5, 0.5]), 1);
});

// ---- ROC and precision-recall --------------------------------------------------------------

/** AUC as the Mann–Whitney statistic: P(score of a positive > score of a negative), ties ½. */
function pairwiseAuc(pos: readonly boolean[], s: readonly number[]): number {
  let sum = 0;
  let pairs = 0;
  s.forEach((a, i) => s.forEach((b, j) => {
    if (!pos[i] || pos[j]) return;
    pairs++;
    sum += a > b ? 1 : a === b ? 0.5 : 0;
  }));
  return sum / pairs;
}

test('ROC AUC: perfect, reversed, a known ranking, and ties', () => {
  assert.equal(rocCurve([true, true, false, false], [0.9, 0.8, 0.3, 0.1])!.auc, 1);
  assert.equal(rocCurve([true, true, false, false], [0.1, 0.2, 0.8, 0.9])!.auc, 0);
  // Ranked +, −, +, −: of the 4 positive/negative pairs, 3 are ordered right.
  const known = rocCurve([true, false, true, false], [0.9, 0.8, 0.7, 0.6])!;
  assert.equal(known.auc, 3 / 4);
  assert.deepEqual(known.fpr, [0, 0, 0.5, 0.5, 1]);
  assert.deepEqual(known.tpr, [0, 0.5, 0.5, 1, 1]);
  assert.deepEqual(known.thresholds, [Infinity, 0.9, 0.8, 0.7, 0.6]);
  // A tie between a positive and a negative is worth half a pair.
  assert.equal(rocCurve([true, true, false, false], [0.9, 0.5, 0.5, 0.1])!.auc, 3.5 / 4);
  const allTied = rocCurve([true, false, true, false, false], [0.3, 0.3, 0.3, 0.3, 0.3])!;
  assert.equal(allTied.auc, 0.5);
  assert.deepEqual([allTied.fpr, allTied.tpr], [[0, 1], [0, 1]]);
  assert.equal(rocCurve([false, false], [0.2, 0.4]), undefined);
  assert.equal(rocCurve([true, true], [0.2, 0.4]), undefined);
});

test('ROC AUC equals the Mann–Whitney statistic; a random scorer gets about 0.5', () => {
  const rand = mulberry32(7);
  const pos = Array.from({ length: 300 }, () => rand() < 0.3);
  const s = pos.map((p) => Math.round((rand() + (p ? 0.3 : 0)) * 20) / 20); // rounded: many ties
  const c = rocCurve(pos, s)!;
  close(c.auc, pairwiseAuc(pos, s), 1e-12);
  close(trapezoid(c.fpr, c.tpr), c.auc, 1e-12);
  assert.deepEqual([c.fpr[0], c.tpr[0], c.fpr.at(-1), c.tpr.at(-1)], [0, 0, 1, 1]);
  c.fpr.forEach((x, i) => i > 0 && assert.ok(x >= c.fpr[i - 1]! && c.tpr[i]! >= c.tpr[i - 1]!));
  const big = Array.from({ length: 20000 }, () => rand() < 0.5);
  const noise = big.map(() => rand());
  close(rocCurve(big, noise)!.auc, 0.5, 0.02);
});

test('average precision: a known ranking, perfect, ties and a random scorer', () => {
  // +, −, +, −: AP = ½·1 + ½·(2/3) (scikit-learn gives 0.8333).
  const pr = prCurve([true, false, true, false], [0.9, 0.8, 0.7, 0.6])!;
  close(pr.averagePrecision, 5 / 6);
  assert.deepEqual(pr.recall, [0.5, 0.5, 1, 1]);
  assert.deepEqual(pr.precision, [1, 0.5, 2 / 3, 0.5]);
  assert.equal(prCurve([true, true, false], [0.9, 0.8, 0.1])!.averagePrecision, 1);
  // One threshold for all: recall 1 at precision = prevalence.
  close(prCurve([true, false, false, false], [0.5, 0.5, 0.5, 0.5])!.averagePrecision, 0.25);
  assert.equal(prCurve([false, false], [0.1, 0.2]), undefined);
  const rand = mulberry32(3);
  const pos = Array.from({ length: 20000 }, () => rand() < 0.2);
  close(prCurve(pos, pos.map(() => rand()))!.averagePrecision, 0.2, 0.02);
});

test('macro ROC averages per-class TPR on a common grid', () => {
  const perfect = rocCurve([true, false], [0.9, 0.1])!;
  const chance = rocCurve([true, false], [0.5, 0.5])!;
  const m = macroRoc([perfect, chance], 11);
  assert.deepEqual(m.fpr, [0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
  m.tpr.slice(1).forEach((y, i) => close(y, (1 + m.fpr[i + 1]!) / 2));
  close(trapezoid(m.fpr, m.tpr), (1 + 0.5) / 2, 1e-12);
});

// ---- calibration ----------------------------------------------------------------------------

test('reliability bins and ECE: hand case, a calibrated scorer, bin edges', () => {
  const bins = reliabilityBins([0.95, 0.95, 0.25, 0.25], [true, false, false, false]);
  assert.equal(bins.length, 15);
  assert.equal(bins.reduce((a, b) => a + b.count, 0), 4);
  assert.equal(bins[14]!.count, 2);
  assert.equal(bins[3]!.count, 2);
  close(bins[14]!.accuracy, 0.5);
  close(expectedCalibrationError(bins), 0.5 * 0.45 + 0.5 * 0.25);
  assert.ok(Number.isNaN(bins[0]!.accuracy));
  // 80% confident and 80% right: perfectly calibrated.
  assert.equal(expectedCalibrationError(reliabilityBins([0.8, 0.8, 0.8, 0.8, 0.8], [true, true, true, true, false])), 0);
  const edges = reliabilityBins([0, 1, 1 / 15], [true, true, true]);
  assert.deepEqual(edges.map((b) => b.count).filter((c) => c > 0), [2, 1]);
  assert.equal(edges[0]!.count, 2); // 0 and exactly 1/15 fall in the first bin
  assert.equal(edges[14]!.count, 1);
});

// ---- bootstrap -------------------------------------------------------------------------------

test('bootstrap CI: reproducible, brackets the estimate, agrees with the normal approximation', () => {
  const rand = mulberry32(11);
  const correct = Array.from({ length: 2000 }, () => (rand() < 0.7 ? 1 : 0));
  const a = bootstrapMean(correct, { seed: 5 });
  assert.deepEqual(bootstrapMean(correct, { seed: 5 }), a);
  assert.notDeepEqual(bootstrapMean(correct, { seed: 6 }), a);
  assert.ok(a.lower < a.estimate && a.estimate < a.upper);
  const p = a.estimate;
  const half = 1.96 * Math.sqrt((p * (1 - p)) / correct.length);
  close(a.lower, p - half, 0.006);
  close(a.upper, p + half, 0.006);
  assert.deepEqual(bootstrapMean([1, 1, 1, 1]), { estimate: 1, lower: 1, upper: 1 });
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4], 1), 4);
  for (let i = 0; i < 1000; i++) {
    const x = rand();
    assert.ok(x >= 0 && x < 1);
  }
});

test('bootstrap difference: identical results give 0, pairing narrows the CI of correlated results', () => {
  const rand = mulberry32(2);
  const a = Array.from({ length: 1000 }, () => (rand() < 0.7 ? 1 : 0));
  assert.deepEqual(bootstrapDifference(a, a, true), { estimate: 0, lower: 0, upper: 0 });
  // b = a with 30 extra samples right: a true +3 pp improvement on the same samples.
  let flips = 0;
  const b = a.map((v) => (v === 0 && flips < 30 ? (flips++, 1) : v));
  const paired = bootstrapDifference(a, b, true);
  const unpaired = bootstrapDifference(a, b, false);
  close(paired.estimate, 0.03);
  assert.ok(paired.lower > 0, 'paired CI excludes 0');
  assert.ok(paired.upper - paired.lower < (unpaired.upper - unpaired.lower) / 2);
  const normal = normalDifference(0.7, 1000, 0.73, 1000);
  close(normal.estimate, 0.03);
  close(normal.upper - normal.lower, unpaired.upper - unpaired.lower, 0.01);
});
