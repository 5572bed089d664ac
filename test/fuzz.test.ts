/**
 * Property-based fuzzing of every parser of outside text (test/fuzz/targets.ts), a few thousand
 * cases each in CI; bench/fuzz.ts runs 100,000 per parser. Seeded, so a failure replays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FUZZ_TARGETS, runTarget } from './fuzz/targets.js';

const RUNS = Number(process.env.FACESENSE_FUZZ_RUNS ?? 2000);

for (const t of FUZZ_TARGETS) {
  test(`fuzz ${t.name}: ${RUNS} cases, only typed errors`, () => {
    assert.equal(runTarget(t, RUNS, 20261207), undefined);
  });
}
