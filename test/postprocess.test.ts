import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ModelError } from '../src/core/errors.js';
import { validateManifest, type ModelOutput, type ValueBands } from '../src/core/models/manifest.js';
import { bandIndex, decodeOutput, resultKind, valueBands } from '../src/core/postprocess.js';

// The bands training/outputs.py writes into age manifests.
const PAPER000: ValueBands = {
  name: 'paper000',
  labels: ['0-2', ...Array.from({ length: 15 }, (_, i) => `${5 * (i + 1) - 2}-${5 * (i + 1) + 2}`), '78+'],
  starts: [0, ...Array.from({ length: 16 }, (_, i) => 5 * (i + 1) - 2)],
};
const FAIRFACE: ValueBands = { name: 'fairface', labels: ['0-2', '3-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70+'], starts: [0, 3, 10, 20, 30, 40, 50, 60, 70] };
const YEARS = Array.from({ length: 101 }, (_, i) => i);
const AGE: ModelOutput = { task: 'age', name: 'age', decode: 'expectation', labels: YEARS.map(String), binValues: YEARS, bands: [PAPER000, FAIRFACE] };

/** Logits of a distribution over 0..100 with the given probability mass per year. */
function logitsFor(mass: Record<number, number>): Float32Array {
  return Float32Array.from(YEARS, (y) => Math.log(mass[y] ?? 1e-12));
}

test('age by expectation over one-year bins, with paper-000 and FairFace bands', () => {
  const r = decodeOutput(AGE, logitsFor({ 28: 0.5, 31: 0.5 }));
  assert.equal(r.kind, 'value');
  if (r.kind !== 'value') return;
  assert.ok(Math.abs(r.value - 29.5) < 1e-6, `value ${r.value}`);
  assert.ok(Math.abs((r.scores?.['28'] ?? 0) - 0.5) < 1e-6);
  // 29.5 rounds to 30: paper 000's 28-32 (both bins' mass), FairFace's 30-39 (only 31's).
  assert.equal(r.bands?.['paper000']?.label, '28-32');
  assert.ok(Math.abs((r.bands?.['paper000']?.score ?? 0) - 1) < 1e-6);
  assert.equal(r.bands?.['fairface']?.label, '30-39');
  assert.ok(Math.abs((r.bands?.['fairface']?.score ?? 0) - 0.5) < 1e-6);
  assert.ok(Math.abs((r.bands?.['fairface']?.scores?.['20-29'] ?? 0) - 0.5) < 1e-6);
  assert.deepEqual(Object.keys(r.bands?.['paper000']?.scores ?? {}), PAPER000.labels);
  const total = Object.values(r.bands?.['fairface']?.scores ?? {}).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-9);
  const baby = decodeOutput(AGE, logitsFor({ 1: 1 }));
  assert.ok(baby.kind === 'value' && baby.bands?.['paper000']?.label === '0-2' && baby.bands['fairface']?.label === '0-2');
  const old = decodeOutput(AGE, logitsFor({ 95: 1 }));
  assert.ok(old.kind === 'value' && old.bands?.['paper000']?.label === '78+' && old.bands['fairface']?.label === '70+');
});

test('bands of a regression output, and band boundaries on whole years', () => {
  const out: ModelOutput = { task: 'age', name: 'age', decode: 'identity', labels: ['age'], bands: [FAIRFACE] };
  assert.deepEqual(decodeOutput(out, [9.4]), { kind: 'value', value: 9.4, bands: { fairface: { label: '3-9' } } });
  assert.deepEqual(decodeOutput(out, [9.5]), { kind: 'value', value: 9.5, bands: { fairface: { label: '10-19' } } });
  const plain: ModelOutput = { task: 'age', name: 'age', decode: 'identity', labels: ['age'] };
  assert.deepEqual(decodeOutput(plain, [9.4]), { kind: 'value', value: 9.4 }, 'no bands in the manifest: none in the result');
});

test('bandIndex and valueBands', () => {
  assert.deepEqual([-4, 0, 2.49, 2.5, 7.4, 7.6, 77.6, 116].map((v) => PAPER000.labels[bandIndex(v, PAPER000.starts)]), ['0-2', '0-2', '0-2', '3-7', '3-7', '8-12', '78+', '78+']);
  assert.deepEqual(valueBands([FAIRFACE], 44), { fairface: { label: '40-49' } });
});

test('manifest validation of bands', () => {
  const manifest = (outputs: unknown[]) => ({
    id: 'm',
    format: 1,
    input: { name: 'input', width: 64, height: 64, channels: 3, layout: 'NCHW', crop: { mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3 }, normalisation: { kind: 'scale', scale: 1 / 255 } },
    outputs,
  });
  assert.equal(validateManifest(manifest([AGE]), 'm.json').outputs[0]?.bands?.length, 2);
  const bad: [unknown, RegExp][] = [
    [{ ...AGE, bands: [{ name: 'x', labels: ['a', 'b'], starts: [3, 3] }] }, /strictly increasing "starts"/],
    [{ ...AGE, bands: [{ name: 'x', labels: ['a', 'b'], starts: [0] }] }, /one per label/],
    [{ ...AGE, bands: {} }, /must be an array/],
    [{ task: 'gender', name: 'gender', decode: 'softmax', labels: ['m', 'f'], bands: [FAIRFACE] }, /needs a value output/],
  ];
  for (const [o, re] of bad) {
    assert.throws(
      () => validateManifest(manifest([o]), 'm.json'),
      (e: unknown) => e instanceof ModelError && re.test(e.message),
    );
  }
});

test('resultKind says what decodeOutput returns for each decode rule', () => {
  assert.equal(resultKind({ decode: 'softmax', labels: ['a', 'b'] }), 'class');
  assert.equal(resultKind({ decode: 'sigmoid', labels: ['a', 'b'] }), 'multilabel');
  assert.equal(resultKind({ decode: 'expectation', labels: ['0', '1'] }), 'value');
  assert.equal(resultKind({ decode: 'identity', labels: ['age'] }), 'value');
  assert.equal(resultKind({ decode: 'identity', labels: ['yaw', 'pitch'] }), 'values');
});
