import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError } from '../src/core/errors.js';
import type { TaskResult } from '../src/core/postprocess.js';
import { formatSmoothing, parseSmoothing, smoothStep, type SmootherState, type SmoothingSpec } from '../src/core/video/smooth.js';

const cls = (happy: number): TaskResult => ({ kind: 'class', label: happy >= 0.5 ? 'happy' : 'sad', score: Math.max(happy, 1 - happy), scores: { happy, sad: 1 - happy } });

/** Feeds a sequence of happy-probabilities through one track's smoother; returns the smoothed ones. */
function feed(spec: SmoothingSpec, seq: number[]) {
  let state: SmootherState | undefined;
  return seq.map((p) => {
    const r = smoothStep(spec, state, { emotion: cls(p), age: { kind: 'value', value: p * 100 } });
    state = r.state;
    return r.smoothed;
  });
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} ≈ ${b}`);

test('ema: s ← alpha·x + (1 − alpha)·s, starting at the first observation; label is the arg-max of the smoothed scores', () => {
  const out = feed({ kind: 'ema', alpha: 0.25 }, [0, 1, 1, 1]);
  const expected = [0, 0.25, 0.4375, 0.578125];
  out.forEach((s, i) => {
    const e = s.emotion!;
    assert.equal(e.kind, 'class');
    if (e.kind !== 'class') return;
    close(e.scores.happy!, expected[i]!);
    close(e.scores.sad!, 1 - expected[i]!);
    assert.equal(e.label, expected[i]! > 0.5 ? 'happy' : 'sad');
    close(e.score, Math.max(expected[i]!, 1 - expected[i]!));
    const age = s.age!;
    assert.ok(age.kind === 'value');
    close(age.value, expected[i]! * 100);
  });
});

test('window: mean of the last N observations, fewer at the start', () => {
  const out = feed({ kind: 'window', size: 3 }, [0.9, 0.3, 0.6, 0, 0]);
  const happy = out.map((s) => (s.emotion!.kind === 'class' ? s.emotion!.scores.happy! : Number.NaN));
  [0.9, 0.6, 0.6, 0.3, 0.2].forEach((v, i) => close(happy[i]!, v));
});

test('none and ema:1 pass the raw results through', () => {
  for (const spec of [{ kind: 'none' } as const, { kind: 'ema', alpha: 1 } as const]) {
    const out = feed(spec, [0.2, 0.9, 0.4]);
    assert.deepEqual(out.map((s) => s.emotion), [cls(0.2), cls(0.9), cls(0.4)]);
  }
});

test('a task missing from a frame (face too small) keeps its state and is absent from the output', () => {
  const spec: SmoothingSpec = { kind: 'ema', alpha: 0.5 };
  const a = smoothStep(spec, undefined, { emotion: cls(1) });
  const b = smoothStep(spec, a.state, {});
  assert.deepEqual(b.smoothed, {});
  const c = smoothStep(spec, b.state, { emotion: cls(0) });
  assert.ok(c.smoothed.emotion?.kind === 'class');
  close(c.smoothed.emotion.scores.happy!, 0.5);
});

test('the state is a value: a step does not change the state it was given', () => {
  const spec: SmoothingSpec = { kind: 'window', size: 2 };
  const a = smoothStep(spec, undefined, { emotion: cls(1) });
  const frozen = JSON.stringify(a.state);
  smoothStep(spec, a.state, { emotion: cls(0) });
  assert.equal(JSON.stringify(a.state), frozen);
});

test('parseSmoothing reads ema:ALPHA, window:N and none, and rejects anything else with an OptionError', () => {
  assert.deepEqual(parseSmoothing('ema:0.3'), { kind: 'ema', alpha: 0.3 });
  assert.deepEqual(parseSmoothing('window:5'), { kind: 'window', size: 5 });
  assert.deepEqual(parseSmoothing('none'), { kind: 'none' });
  for (const bad of ['ema', 'ema:0', 'ema:1.5', 'window:0', 'window:2.5', 'kalman:3', '', 'none:1']) assert.throws(() => parseSmoothing(bad), OptionError, bad);
  for (const s of ['ema:0.3', 'window:5', 'none']) assert.equal(formatSmoothing(parseSmoothing(s)), s);
});
