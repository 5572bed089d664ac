/**
 * `node dist/bench/fuzz.js [--runs N] [--seed S]`: property-based fuzzing of every parser
 * (test/fuzz/targets.ts), 100,000 cases each by default; prints one line per parser and exits 1
 * on any failure (an exception other than the typed ones, or a malformed accepted value).
 */
import { parseArgs } from 'node:util';
import { FUZZ_TARGETS, runTarget } from '../test/fuzz/targets.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100000' }, seed: { type: 'string' } } });
const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 2 ** 31 : Number(values.seed);
let failures = 0;
process.stdout.write(`fuzz: ${runs} cases per parser, seed ${seed}\n`);
for (const t of FUZZ_TARGETS) {
  const t0 = performance.now();
  const failure = runTarget(t, runs, seed);
  const secs = (performance.now() - t0) / 1000;
  if (failure !== undefined) failures++;
  process.stdout.write(`${t.name.padEnd(20)} ${runs} cases in ${secs.toFixed(1)} s: ${failure === undefined ? 'ok (no exception other than typed ones)' : `FAILED\n${failure}`}\n`);
}
process.exitCode = failures > 0 ? 1 : 0;
