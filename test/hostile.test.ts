/**
 * The hostile corpus in CI (test/hostile/): each case in its own process with a time limit and a
 * memory cap; fails on any crash, hang, lost result or quiet success where a typed error belongs.
 * A spread of 7 cases per area by default (the whole corpus takes minutes on a loaded machine);
 * FACESENSE_HOSTILE=all replays every case (as `node dist/test/hostile/replay.js` does).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasShared, MEDIA } from './helpers/media.js';
import { failed, replay } from './hostile/replay.js';

test('hostile corpus: no crash, no hang, nothing lost, typed errors where due', { skip: !hasShared && 'needs ../shared/media', timeout: 900_000 }, async () => {
  const { results, line } = await replay({
    root: process.cwd(),
    media: MEDIA,
    timeoutMs: 60_000,
    memoryMb: 1500,
    jobs: 2,
    ...(process.env.FACESENSE_HOSTILE === 'all' ? {} : { perArea: 7 }),
  });
  process.stderr.write(`${line}\n`);
  const bad = failed(results);
  assert.deepEqual(bad.map((r) => `${r.verdict} ${r.id}: ${r.why ?? ''}`), []);
  assert.ok(results.length >= 30, `only ${results.length} cases replayed`);
  // Every area of the corpus was exercised.
  for (const area of ['cli-', 'options:', 'video:', 'manifest:', 'dataset:', 'library:']) assert.ok(results.some((r) => r.id.startsWith(area)), `no ${area} case`);
});
