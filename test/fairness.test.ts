import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sample } from '../src/data/types.js';
import { ageMeasure, classMeasure, fairnessBreakdown, GROUP_ATTRIBUTES, groupLabels, largestGaps, orderGroups, pickAttributes } from '../src/eval/fairness.js';

const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} ≠ ${b}`);

function utkSample(age: number, gender: string, ethnicity: string, unsure?: 'yes' | 'no'): Sample {
  return { id: `${age}`, split: 'test', image: { kind: 'file', path: 'x.jpg' }, labels: { age }, groups: { gender, ethnicity, ageBand: 'ignored', ...(unsure === undefined ? {} : { appearanceUnsure: unsure }) } };
}

test('group labels: ethnicity and gender from the loader, age, child and childhood bands from the age label', () => {
  assert.deepEqual(groupLabels(utkSample(8, 'female', 'Asian'), GROUP_ATTRIBUTES), { ethnicity: 'Asian', gender: 'female', age: '0-12', child: '0-12', children: '8-12' });
  assert.equal(groupLabels(utkSample(2, 'male', 'Asian'), GROUP_ATTRIBUTES).children, '0-2');
  assert.equal(groupLabels(utkSample(3, 'male', 'Asian'), GROUP_ATTRIBUTES).children, '3-7');
  assert.deepEqual(groupLabels(utkSample(45, 'male', 'White', 'yes'), GROUP_ATTRIBUTES), { ethnicity: 'White', gender: 'male', age: '40-59', child: '13+', children: '20+', unsure: 'yes' });
  const noGroups: Sample = { id: 'a', split: 'test', image: { kind: 'file', path: 'a.png' }, labels: { emotion: 3 } };
  assert.deepEqual(groupLabels(noGroups, GROUP_ATTRIBUTES), {});
});

test('default attributes leave out those read from the target; named ones are checked', () => {
  const names = (target: string) => pickAttributes(undefined, target).attributes.map((a) => a.name);
  assert.deepEqual(names('age'), ['ethnicity', 'gender', 'unsure']);
  assert.deepEqual(names('gender'), ['ethnicity', 'age', 'child', 'children', 'unsure']);
  assert.deepEqual(names('ethnicity'), ['gender', 'age', 'child', 'children', 'unsure']);
  // Read from the age label, so an age evaluation asks for them by name (--groups children).
  assert.deepEqual(pickAttributes(['children'], 'age').attributes.map((a) => a.name), ['children']);
  assert.deepEqual(pickAttributes(['gender', 'age'], 'gender').attributes.map((a) => a.name), ['gender', 'age']);
  assert.deepEqual(pickAttributes(['race', 'age'], 'gender').unknown, ['race']);
  assert.deepEqual(pickAttributes([], 'gender').attributes, []);
});

test('group order: fixed order first, then first seen', () => {
  assert.deepEqual(orderGroups(['60+', '0-12', '20-39'], ['0-12', '13-19', '20-39', '40-59', '60+']), ['0-12', '20-39', '60+']);
  assert.deepEqual(orderGroups(['b', 'a', 'c'], ['c']), ['c', 'b', 'a']);
  assert.deepEqual(orderGroups(['b', 'a']), ['b', 'a']);
});

test('breakdown by group: counts, per-group metrics and the largest gap, hand-computed', () => {
  // 8 samples, 2 classes. Group A: 4 samples, 3 right; group B: 3 samples, 1 right; 1 sample unlabelled.
  const truth = [0, 1, 0, 1, 0, 1, 1, 0];
  const pred = [0, 1, 0, 0, 1, 0, 1, 0];
  const labels = [{ g: 'A' }, { g: 'A' }, { g: 'A' }, { g: 'A' }, { g: 'B' }, { g: 'B' }, { g: 'B' }, {}];
  const f = fairnessBreakdown(labels, [{ name: 'g', order: ['B', 'A'] }], ['accuracy', 'balancedAccuracy', 'macroF1'], classMeasure(truth, pred, 2), 3);
  const g = f.attributes[0]!;
  assert.equal(g.unlabelled, 1);
  assert.deepEqual(g.groups.map((x) => [x.group, x.count]), [['B', 3], ['A', 4]]);
  const [b, a] = g.groups;
  assert.equal(a!.metrics['accuracy'], 3 / 4);
  assert.equal(b!.metrics['accuracy'], 1 / 3);
  // A: class 0 recall 2/2, class 1 recall 1/2 → balanced 3/4. B: class 0 recall 0/1, class 1 recall 1/2 → 1/4.
  close(a!.metrics['balancedAccuracy']!, 3 / 4);
  close(b!.metrics['balancedAccuracy']!, 1 / 4);
  const acc = g.gaps.find((x) => x.metric === 'accuracy')!;
  close(acc.gap, 3 / 4 - 1 / 3);
  assert.deepEqual([acc.highest.group, acc.lowest.group], ['A', 'B']);
  assert.equal(g.gaps.length, 3);
  // With a minimum group size of 4, B is listed but no gap can be formed.
  assert.deepEqual(fairnessBreakdown(labels, [{ name: 'g' }], ['accuracy'], classMeasure(truth, pred, 2), 4).attributes[0]!.gaps, []);
});

test('age groups: MAE, CS@5 and bias per group', () => {
  const truth = [10, 10, 50, 50];
  const pred = [12, 18, 50, 44];
  const f = fairnessBreakdown([{ age: 'young' }, { age: 'young' }, { age: 'old' }, { age: 'old' }], [{ name: 'age' }], ['maeYears', 'cs5', 'meanSignedErrorYears'], ageMeasure(truth, pred), 1);
  const [young, old] = f.attributes[0]!.groups;
  assert.deepEqual(young!.metrics, { maeYears: 5, cs5: 0.5, meanSignedErrorYears: 5 });
  assert.deepEqual(old!.metrics, { maeYears: 3, cs5: 0.5, meanSignedErrorYears: -3 });
  const mae = largestGaps(f.attributes[0]!.groups, ['maeYears'], 1)[0]!;
  assert.deepEqual(mae, { metric: 'maeYears', gap: 2, highest: { group: 'young', value: 5 }, lowest: { group: 'old', value: 3 } });
});
