import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BatchItem } from '../src/core/analyzer.js';
import { csvHeader, csvRows } from '../src/core/format.js';

test('CSV: a class task gives its label and score, a banded value its bands as the label', () => {
  const tasks = [{ task: 'emotion', labels: ['neutral', 'happiness'] }, { task: 'age', labels: [] }];
  const face = {
    boxPx: { x: 1, y: 2, width: 3, height: 4 }, score: 0.9, alignment: { rollDeg: 0, eyeDistancePx: 10 },
    attributes: {
      emotion: { kind: 'class', label: 'happiness', score: 0.8, scores: { neutral: 0.2, happiness: 0.8 } },
      age: { kind: 'value', value: 24.46, bands: { paper000: { label: '23-27', score: 0.25 }, fairface: { label: '20-29', score: 0.5 } } },
    },
  };
  const item = { ok: true, source: 'a.jpg', result: { widthPx: 10, heightPx: 10, faces: [face] } } as unknown as BatchItem;
  const header = csvHeader(tasks);
  const [row] = csvRows(item, tasks);
  const cell = (name: string) => row![header.indexOf(name)];
  assert.equal(row!.length, header.length);
  assert.equal(cell('emotion_label'), 'happiness');
  assert.equal(cell('emotion_happiness'), 0.8);
  assert.equal(cell('age_label'), 'paper000:23-27 fairface:20-29');
  assert.equal(cell('age_value'), 24.46);
  const plain = { ...face, attributes: { age: { kind: 'value', value: 7 } } };
  const [row2] = csvRows({ ...item, result: { widthPx: 10, heightPx: 10, faces: [plain] } } as unknown as BatchItem, tasks);
  assert.equal(row2![header.indexOf('age_label')], '');
  assert.equal(row2![header.indexOf('emotion_label')], '');
});
