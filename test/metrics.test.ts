import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classificationReport, confusionMatrix } from '../src/eval/metrics.js';

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
