import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Box } from '../src/core/types.js';
import { initialTrackerState, matchGreedy, updateTracks, type TrackerState } from '../src/core/video/tracker.js';

type D = { boxPx: Box; name: string };
const box = (x: number, y: number, s = 100): Box => ({ x, y, width: s, height: s });
const det = (name: string, x: number, y: number, s = 100): D => ({ boxPx: box(x, y, s), name });
const opts = { iouThreshold: 0.3, maxMissed: 2 };

/** Runs rounds of detections and returns each round's ids and the ids that ended. */
function run(rounds: D[][], o = opts) {
  let state: TrackerState<D> = initialTrackerState();
  return rounds.map((dets) => {
    const step = updateTracks(state, dets, o);
    state = step.state;
    return { ids: [...step.ids], ended: step.ended.map((t) => t.id), live: state.tracks.map((t) => t.id) };
  });
}

test('two faces moving slowly keep their ids, whatever order the detector lists them in', () => {
  const rounds: D[][] = [];
  for (let k = 0; k < 6; k++) {
    const a = det('a', 10 + 8 * k, 20);
    const b = det('b', 400 - 8 * k, 30 + 5 * k);
    rounds.push(k % 2 === 0 ? [a, b] : [b, a]);
  }
  const out = run(rounds);
  out.forEach((r, k) => assert.deepEqual(r.ids, k % 2 === 0 ? [1, 2] : [2, 1]));
  assert.ok(out.every((r) => r.ended.length === 0));
});

test('a face missed for up to maxMissed rounds keeps its id; missed longer, it ends and returns with a new id', () => {
  const a = det('a', 100, 100);
  const out = run([[a], [], [], [a], [], [], [], [a]]);
  assert.deepEqual(out.map((r) => r.ids), [[1], [], [], [1], [], [], [], [2]]);
  assert.deepEqual(out[6]!.ended, [1], 'ends on the third missed round (maxMissed 2)');
  assert.deepEqual(out[5]!.live, [1], 'still live while missed ≤ maxMissed');
  assert.deepEqual(out[7]!.live, [2]);
});

test('ids are never reused and a new face far from every track starts a new one', () => {
  const out = run([[det('a', 0, 0)], [det('a', 5, 0), det('b', 500, 500)], [det('b', 505, 500)], [], [], [det('c', 0, 0)]]);
  assert.deepEqual(out.map((r) => r.ids), [[1], [1, 2], [2], [], [], [3]]);
  assert.deepEqual(out[4]!.ended, [1], 'track 1 was last matched in round 1: its third missed round is round 4');
  assert.deepEqual(out[5]!.ended, [2]);
});

test('greedy matching gives a contested track to the detection that overlaps it most', () => {
  // Track 1 at x=100; two detections overlap it: x=110 (IoU 0.82) wins, x=160 (IoU 0.25) starts track 2.
  const out = run([[det('a', 100, 100)], [det('far', 160, 100), det('near', 110, 100)]]);
  assert.deepEqual(out[1]!.ids, [2, 1]);
});

test('disjoint boxes never match, even with an IoU threshold of 0', () => {
  const out = run([[det('a', 0, 0)], [det('b', 300, 0)]], { iouThreshold: 0, maxMissed: 5 });
  assert.deepEqual(out[1]!.ids, [2]);
});

test('the state is a value: updating does not change the state it was given', () => {
  const s0 = initialTrackerState<D>();
  const s1 = updateTracks(s0, [det('a', 0, 0)], opts).state;
  const frozen = JSON.stringify(s1);
  updateTracks(s1, [], opts);
  updateTracks(s1, [det('a', 2, 0)], opts);
  assert.equal(JSON.stringify(s1), frozen);
  assert.deepEqual(s0, { tracks: [], nextId: 1 });
});

test('matchGreedy takes the best pairs first, ties by row then column, and respects the threshold', () => {
  // Greedy, not optimal: the Hungarian method would pair (0, 1) and (1, 0) for a larger total.
  assert.deepEqual(matchGreedy([[0.9, 0.8], [0.85, 0.1]], 0.3), [[0, 0]]);
  assert.deepEqual(matchGreedy([[0.5, 0.5], [0.5, 0.5]], 0.3), [[0, 0], [1, 1]]);
  assert.deepEqual(matchGreedy([[0.2]], 0.3), []);
  assert.deepEqual(matchGreedy([], 0.3), []);
});
