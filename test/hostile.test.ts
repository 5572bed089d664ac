/**
 * The hostile corpus in CI (test/hostile/), through every channel: the CLI and library processes,
 * the HTTP service (`facesense serve`), and the workers (`batch submit` + `facesense worker` on a
 * redis-server started here, and `batch run`). Each case has a time limit and each process a
 * memory cap; fails on any crash, hang, lost result or quiet success where a typed error belongs.
 * A spread of cases per area by default (the whole corpus takes minutes on a loaded machine);
 * FACESENSE_HOSTILE=all replays every case (as `node dist/test/hostile/replay.js` does).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasShared, MEDIA } from './helpers/media.js';
import { failed, replay } from './hostile/replay.js';

test('hostile corpus through the CLI, the HTTP service and the workers: no crash, no hang, nothing lost, typed errors where due', { skip: !hasShared && 'needs ../shared/media', timeout: 1_200_000 }, async () => {
  const all = process.env.FACESENSE_HOSTILE === 'all';
  const { results, channels } = await replay({
    root: process.cwd(),
    media: MEDIA,
    timeoutMs: 60_000,
    memoryMb: 1500,
    jobs: 2,
    channels: ['cli', 'serve', 'workers'],
    ...(all ? {} : { perArea: 4 }),
  });
  for (const c of channels) process.stderr.write(`${c.channel}: ${c.line}\n`);
  const bad = failed(results);
  assert.deepEqual(bad.map((r) => `${r.verdict} ${r.id}: ${r.why ?? ''}`), []);
  // Every area of the corpus and every channel was exercised.
  for (const area of ['cli-', 'options:', 'video:', 'manifest:', 'dataset:', 'library:', 'outputs:', 'serve-raw:', 'serve-multipart:', 'serve-video-', 'serve-option:', 'serve-header:', 'workers-queue:', 'workers-run:']) {
    assert.ok(results.some((r) => r.id.startsWith(area)), `no ${area} case`);
  }
  for (const c of channels) assert.ok(c.results.length >= 15, `only ${c.results.length} ${c.channel} cases replayed`);
});

// Outside the spread above, always: libvips' own 268 MP default once refused the detector's resize of
// an image the pixel limit allowed, and the sample did not contain the case.
test('hostile: a 289 MP image allowed by --pixel-limit is analysed beside good photos', { skip: !hasShared && 'needs ../shared/media', timeout: 300_000 }, async () => {
  const { results } = await replay({ root: process.cwd(), media: MEDIA, timeoutMs: 180_000, memoryMb: 1500, jobs: 1, channels: ['cli'], filter: '289mp-allowed' });
  assert.equal(results.length, 1);
  assert.deepEqual(failed(results).map((r) => `${r.verdict} ${r.id}: ${r.why ?? ''}`), []);
});
