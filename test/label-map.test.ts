import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CKPLUS_EMOTIONS, CKPLUS_LABELS } from '../src/data/loaders/ckplus.js';
import { FER2013_CLASSES } from '../src/data/loaders/fer2013-csv.js';
import { FERPLUS_CLASSES } from '../src/data/loaders/ferplus-folders.js';
import { buildLabelMap, canonicalLabel, mapScores } from '../src/eval/label-map.js';

test('synonyms fold to one canonical name, case-insensitively', () => {
  assert.equal(canonicalLabel('happy'), canonicalLabel('Happiness'));
  assert.equal(canonicalLabel('angry'), canonicalLabel('anger'));
  assert.equal(canonicalLabel('sad'), canonicalLabel('SADNESS'));
  assert.equal(canonicalLabel(' surprised '), canonicalLabel('surprise'));
  assert.equal(canonicalLabel('glasses'), 'glasses');
});

test('a FER2013 model on FER+: seven classes mapped, contempt has no counterpart', () => {
  const m = buildLabelMap(FER2013_CLASSES, FERPLUS_CLASSES);
  assert.equal(m.identity, false);
  assert.deepEqual(m.classes, ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear']);
  assert.deepEqual(m.unmatchedClasses, ['contempt']);
  assert.deepEqual(m.droppedLabels, []);
  assert.deepEqual(m.mapped.find((x) => x.class === 'happiness')?.modelLabels, ['happy']);
  assert.deepEqual(m.mapped.find((x) => x.class === 'anger')?.modelLabels, ['angry']);
  assert.deepEqual(m.sources[1], [FER2013_CLASSES.indexOf('happy')]);
});

test('a FER+ model on FER2013 drops contempt; on CK+ it drops neutral (CK+48) or nothing (with neutral)', () => {
  const fer = buildLabelMap(FERPLUS_CLASSES, FER2013_CLASSES);
  assert.deepEqual(fer.classes, FER2013_CLASSES);
  assert.deepEqual(fer.unmatchedClasses, []);
  assert.deepEqual(fer.droppedLabels, ['contempt']);
  const ck = buildLabelMap(FERPLUS_CLASSES, CKPLUS_EMOTIONS);
  assert.deepEqual(ck.classes, CKPLUS_EMOTIONS);
  assert.deepEqual(ck.droppedLabels, ['neutral']);
  assert.deepEqual(buildLabelMap(FERPLUS_CLASSES, CKPLUS_LABELS).droppedLabels, []);
  const fer2013OnCk = buildLabelMap(FER2013_CLASSES, CKPLUS_EMOTIONS);
  assert.deepEqual(fer2013OnCk.unmatchedClasses, ['contempt']);
  assert.deepEqual(fer2013OnCk.droppedLabels, ['neutral']);
});

test('same labels in another order are an identity map', () => {
  const m = buildLabelMap(['b', 'a', 'c'], ['a', 'b', 'c']);
  assert.equal(m.identity, true);
  assert.deepEqual(m.sources, [[1], [0], [2]]);
  assert.deepEqual(mapScores(m, [0.5, 0.2, 0.3]), [0.2, 0.5, 0.3]);
});

test('mapped scores are renormalised over the measured classes', () => {
  // FER+ model scores (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt) on FER2013.
  const m = buildLabelMap(FERPLUS_CLASSES, FER2013_CLASSES);
  const s = mapScores(m, [0.1, 0.3, 0.1, 0.1, 0.1, 0.05, 0.05, 0.2]);
  assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  // FER2013 order: angry, disgust, fear, happy, sad, surprise, neutral; contempt's 0.2 is dropped.
  const expected = [0.1, 0.05, 0.05, 0.3, 0.1, 0.1, 0.1].map((v) => v / 0.8);
  s.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-12));
  // Several model labels for one class add up.
  const merged = buildLabelMap(['happy', 'joy', 'sad'], ['happiness', 'sadness']);
  assert.deepEqual(merged.sources, [[0, 1], [2]]);
  assert.deepEqual(mapScores(merged, [0.25, 0.25, 0.5]), [0.5, 0.5]);
  assert.deepEqual(mapScores(merged, [0, 0, 0]), [0.5, 0.5]);
});
