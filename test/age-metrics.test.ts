import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bandLabel, CHILD_AGE_BANDS, FAIRFACE_AGE_BANDS, FAIRNESS_AGE_BANDS, PAPER000_AGE_BANDS } from '../src/core/age-bands.js';
import { ageMetrics, bandScore, cumulativeScore, meanAbsoluteError, meanSignedError, rootMeanSquaredError } from '../src/eval/age.js';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

// Errors (predicted − true): +2, −4, 0, +7.5, −0.5
const TRUTH = [20, 30, 40, 10, 61];
const PRED = [22, 26, 40, 17.5, 60.5];

test('MAE, RMSE and mean signed error match hand computation', () => {
  close(meanAbsoluteError(TRUTH, PRED), (2 + 4 + 0 + 7.5 + 0.5) / 5);
  close(rootMeanSquaredError(TRUTH, PRED), Math.sqrt((4 + 16 + 0 + 56.25 + 0.25) / 5));
  close(meanSignedError(TRUTH, PRED), (2 - 4 + 0 + 7.5 - 0.5) / 5);
  assert.equal(meanAbsoluteError(TRUTH, TRUTH), 0);
  assert.ok(Number.isNaN(meanAbsoluteError([], [])));
});

test('cumulative score counts |error| ≤ k, boundary included', () => {
  // |errors| 2, 4, 0, 7.5, 0.5
  assert.equal(cumulativeScore(TRUTH, PRED, 1), 2 / 5);
  assert.equal(cumulativeScore(TRUTH, PRED, 2), 3 / 5);
  assert.equal(cumulativeScore(TRUTH, PRED, 4), 4 / 5);
  assert.equal(cumulativeScore(TRUTH, PRED, 7), 4 / 5);
  assert.equal(cumulativeScore(TRUTH, PRED, 8), 1);
  // An expectation that lands a float's hair past k still counts.
  assert.equal(cumulativeScore([25], [30.000000000000004], 5), 1);
});

test('band tables: paper 000 has 17 five-year bands, FairFace 9 groups, fairness bands split at 13', () => {
  assert.equal(PAPER000_AGE_BANDS.labels.length, 17);
  assert.deepEqual(PAPER000_AGE_BANDS.labels.slice(0, 4), ['0-2', '3-7', '8-12', '13-17']);
  assert.equal(PAPER000_AGE_BANDS.labels.at(-1), '78+');
  // Each label starts where its band starts.
  for (const b of [PAPER000_AGE_BANDS, FAIRFACE_AGE_BANDS, FAIRNESS_AGE_BANDS, CHILD_AGE_BANDS]) {
    assert.equal(b.labels.length, b.starts.length);
    b.labels.forEach((l, i) => assert.equal(Number.parseInt(l, 10), b.starts[i]));
  }
  assert.deepEqual([2, 3, 7, 8, 12, 13, 77, 78, 116].map((a) => bandLabel(a, PAPER000_AGE_BANDS)), ['0-2', '3-7', '3-7', '8-12', '8-12', '13-17', '73-77', '78+', '78+']);
  assert.deepEqual([2.4, 2.5, 9, 10, 69, 70].map((a) => bandLabel(a, FAIRFACE_AGE_BANDS)), ['0-2', '3-9', '3-9', '10-19', '60-69', '70+']);
  assert.deepEqual([0, 12, 13, 19, 20, 39, 40, 59, 60, 90].map((a) => bandLabel(a, FAIRNESS_AGE_BANDS)), ['0-12', '0-12', '13-19', '13-19', '20-39', '20-39', '40-59', '40-59', '60+', '60+']);
  assert.deepEqual([12, 12.4, 12.5, 13].map((a) => bandLabel(a, CHILD_AGE_BANDS)), ['0-12', '0-12', '13+', '13+']);
});

test('band accuracy: exact and ±1 band on FairFace groups, with the band confusion', () => {
  // true bands: 20-29, 30-39, 40-49, 10-19, 60-69; predicted: 20-29, 20-29, 40-49, 10-19 (17.5 rounds to 18), 60-69
  const f = bandScore(TRUTH, PRED, FAIRFACE_AGE_BANDS);
  assert.equal(f.exact, 4 / 5);
  assert.equal(f.withinOne, 1);
  assert.equal(f.confusion.flat().reduce((a, b) => a + b, 0), 5);
  assert.equal(f.confusion[4]![3], 1, 'the 30-39 face predicted 20-29');
  // Two bands off is outside ±1.
  const far = bandScore([25], [45], FAIRFACE_AGE_BANDS);
  assert.equal(far.exact, 0);
  assert.equal(far.withinOne, 0);
});

test('band accuracy weighted equally per band: a crowded band cannot hide an empty-handed one', () => {
  // Nine faces of 20-29 all right, one 70+ face predicted 50-59 (two bands off): 9 / 10 of the
  // faces, but half of the bands that hold a face.
  const truth = [...Array<number>(9).fill(25), 75];
  const pred = [...Array<number>(9).fill(24), 55];
  const f = bandScore(truth, pred, FAIRFACE_AGE_BANDS);
  assert.equal(f.exact, 9 / 10);
  assert.equal(f.balancedExact, (1 + 0) / 2);
  assert.equal(f.balancedWithinOne, (1 + 0) / 2);
  // One band off counts within one; bands without a true face are left out, not counted as 0.
  const near = bandScore([1, 75, 75], [1, 65, 75], FAIRFACE_AGE_BANDS);
  assert.equal(near.balancedExact, (1 + 1 / 2) / 2);
  assert.equal(near.balancedWithinOne, 1);
});

test('ageMetrics: paper 000 ±2.5 / ±5 years are exact / ±1 band on its 5-year bands', () => {
  // paper000 bands: true 18-22, 28-32, 38-42, 8-12, 58-62; predicted (rounded 22, 26, 40, 18, 61) 18-22, 23-27, 38-42, 18-22, 58-62
  const m = ageMetrics(TRUTH, PRED);
  assert.equal(m.evaluated, 5);
  close(m.maeYears, 2.8);
  assert.equal(m.paper000.within2_5Years, 3 / 5);
  assert.equal(m.paper000.within5Years, 4 / 5, '8-12 → 18-22 is two bands off');
  assert.equal(m.paper000.within2_5Years, m.bands['paper000']!.exact);
  assert.equal(m.bands['fairface']!.exact, 4 / 5);
  assert.deepEqual(m.cumulativeScore.map((c) => c.kYears), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(m.cumulativeScore.map((c) => c.share), [0.4, 0.6, 0.6, 0.8, 0.8, 0.8, 0.8, 1, 1, 1]);
  assert.ok(m.maeCI.lower <= m.maeYears && m.maeYears <= m.maeCI.upper);
  // A perfect predictor.
  const p = ageMetrics(TRUTH, TRUTH);
  assert.equal(p.maeYears, 0);
  assert.equal(p.rmseYears, 0);
  assert.equal(p.paper000.within2_5Years, 1);
  assert.ok(p.cumulativeScore.length > 0, 'every() over an empty list would pass vacuously');
  assert.ok(p.cumulativeScore.every((c) => c.share === 1));
});
