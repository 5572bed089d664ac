import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createAnalyzer } from '../src/node/analyzer.js';
import { analyzeSegment, compareStitched, planSegments, stitchSegments, type SegmentFrame, type SegmentResult } from '../src/queue/segments.js';
import { media, SHARED_MODELS } from './helpers/media.js';

test('planSegments: consecutive ranges, overlap before every segment but the first, the last runs to the end', () => {
  const p = planSegments(2.5, 1, 0.3);
  assert.deepEqual(p.map((s) => [s.startSec, s.endSec, s.overlapSec]), [[0, 1, 0], [1, 2, 0.3], [2, Number.POSITIVE_INFINITY, 0.3]]);
  assert.equal(planSegments(0, 60, 0.5).length, 1);
});

const face = (track: number, x: number): SegmentFrame['faces'][number] => ({ track, boxPx: { x, y: 10, width: 50, height: 50 }, score: 0.9, detected: true, attributes: {}, smoothed: {} });

test('stitchSegments: tracks linked by box overlap on the shared frames; an unlinked track gets a new id; overlap frames counted once', () => {
  const seg0: SegmentResult = { plan: { index: 0, startSec: 0, endSec: 1, overlapSec: 0 }, frames: [0, 500, 800, 900].map((t) => ({ timestampMs: t, faces: [face(1, 100 + t / 100), face(2, 400)] })) };
  // Segment 1 numbers its tracks from 1 again, in another order; the face at x=400 leaves, a new one appears at x=700.
  const seg1: SegmentResult = {
    plan: { index: 1, startSec: 1, endSec: 2, overlapSec: 0.25 },
    frames: [
      { timestampMs: 800, faces: [face(1, 402), face(2, 108)] },
      { timestampMs: 900, faces: [face(1, 401), face(2, 109)] },
      { timestampMs: 1000, faces: [face(2, 110), face(3, 700)] },
      { timestampMs: 1500, faces: [face(2, 115), face(3, 700)] },
    ],
  };
  const { frames, links } = stitchSegments([seg1, seg0]);
  assert.equal(links, 2);
  assert.deepEqual(frames.map((f) => f.timestampMs), [0, 500, 800, 900, 1000, 1500]);
  assert.deepEqual(frames[4]!.faces.map((f) => [f.track, f.boxPx.x]), [[1, 110], [3, 700]]);
});

test('segmented video: the stitched summary equals the single-process one up to boundary effects (single_face.mp4, 1 s segments)', { timeout: 180_000 }, async () => {
  const analyzer = await createAnalyzer({ store: { modelsDir: SHARED_MODELS }, threads: 1, tasks: ['emotion'] });
  try {
    const path = media('single_face.mp4');
    const single = await analyzeSegment(analyzer, path, { index: 0, startSec: 0, endSec: Number.POSITIVE_INFINITY, overlapSec: 0 });
    const parts = await Promise.all(planSegments(2.43, 1, 0.3).map((p) => analyzeSegment(analyzer, path, p)));
    const { frames, links } = stitchSegments(parts);
    assert.equal(links, 2, 'the face is linked across both boundaries');
    const c = compareStitched(single.frames, frames);
    assert.equal(c.framesStitched, c.framesSingle, 'every frame once');
    assert.deepEqual([c.tracksSingle, c.tracksStitched], [1, 1]);
    assert.equal(c.dominantChanged, 0);
    assert.ok(c.maxMeanScoreDiff < 0.01, `mean scores within 0.01 (${c.maxMeanScoreDiff})`);
    assert.ok(c.rowsSameLabel / c.rows >= 0.95, `smoothed labels agree on ${c.rowsSameLabel}/${c.rows} rows`);
  } finally {
    await analyzer.dispose();
  }
});
