/**
 * The server's analysis queue on its own (src/server/queue.ts): latency-aware admission from the
 * work ahead, the hard bound, service times learned per pixel, and aborts that end a wait at once
 * and answer a running analysis at once while its slot stays held until it really stops.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FacesenseError } from '../src/core/errors.js';
import { createAnalysisQueue } from '../src/server/queue.js';

const VGA = 640 * 480;

/** A task that runs until `finish()` is called. */
function held(): { fn: () => Promise<string>; finish: () => void } {
  let finish!: () => void;
  const p = new Promise<string>((r) => (finish = () => r('done')));
  return { fn: () => p, finish };
}

const code = (e: unknown) => (e instanceof FacesenseError ? e.code : String(e));
const tick = () => new Promise((r) => setImmediate(r));

test('admission: a new analysis is refused when the work ahead of it would make it wait over the budget; its own size does not count', async () => {
  // Before any measurement an analysis of a 640×480 image is guessed at 45 ms.
  const q = createAnalysisQueue({ concurrency: 1, maxWaiting: 100, maxWaitMs: 100 });
  assert.equal(Math.round(q.serviceMs(VGA)), 45);
  const a = held();
  const running = q.run(a.fn, undefined, { pixels: VGA });
  assert.equal(q.active, 1);
  assert.equal(q.estimatedWaitMs() > 40 && q.estimatedWaitMs() <= 45, true, `${q.estimatedWaitMs()}`);
  // ~45 ms ahead: admitted, however big it is itself.
  const b = q.run(async () => 'b', undefined, { pixels: 16 * VGA });
  assert.equal(q.waiting, 1);
  // Now ~45 + 16 × 45 ms ahead: refused at once, with nothing queued for it.
  await assert.rejects(q.run(async () => 'c', undefined, { pixels: VGA }), (e) => code(e) === 'OVERLOADED' && /budget/.test((e as Error).message));
  assert.throws(() => q.admit(), (e) => code(e) === 'OVERLOADED');
  assert.equal(q.full, true);
  assert.equal(q.waiting, 1);
  assert.ok(q.retryAfterSec() >= 1);
  a.finish();
  assert.equal(await running, 'done');
  assert.equal(await b, 'b');
  await q.drained();
  assert.equal(q.full, false);
  assert.equal(q.estimatedWaitMs(), 0);

  // The same queue with a small file waiting instead: the one after it fits the budget.
  const a2 = held();
  const r2 = q.run(a2.fn, undefined, { pixels: VGA });
  const small = q.run(async () => 's', undefined, { pixels: 100 });
  const next = q.run(async () => 'n', undefined, { pixels: VGA });
  assert.equal(q.waiting, 2);
  a2.finish();
  assert.deepEqual(await Promise.all([r2, small, next]), ['done', 's', 'n']);
});

test('admission: budget 0 admits only while a slot is free; the hard bound holds for admitted batches too', async () => {
  const q = createAnalysisQueue({ concurrency: 2, maxWaiting: 2, maxWaitMs: 0 });
  const [a, b] = [held(), held()];
  const runs = [q.run(a.fn), q.run(b.fn)];
  await assert.rejects(q.run(async () => 'x'), (e) => code(e) === 'OVERLOADED');
  // A batch admitted as a whole may wait, up to the hard bound.
  const admitted = [q.run(async () => 1, undefined, { admitted: true }), q.run(async () => 2, undefined, { admitted: true })];
  await assert.rejects(q.run(async () => 3, undefined, { admitted: true }), (e) => code(e) === 'OVERLOADED' && /2 waiting/.test((e as Error).message));
  a.finish();
  b.finish();
  assert.deepEqual(await Promise.all([...runs, ...admitted]), ['done', 'done', 1, 2]);
});

test('admission: service time is learned per pixel from the analyses that count as samples', async () => {
  const q = createAnalysisQueue({ concurrency: 1, maxWaiting: 10, maxWaitMs: 1000 });
  const slow = () => new Promise<string>((r) => setTimeout(() => r('ok'), 300));
  await q.run(slow, undefined, { pixels: VGA, sample: () => false });
  assert.equal(Math.round(q.serviceMs(VGA)), 45, 'a non-sample (a file refused at its header) teaches nothing');
  await q.run(slow, undefined, { pixels: VGA });
  const learned = q.serviceMs(VGA);
  assert.ok(learned > 90, `one 300 ms sample moves the average up: ${learned}`);
  assert.ok(Math.abs(q.serviceMs(4 * VGA) - 4 * learned) < 1e-6, 'cost scales with pixels');
  assert.equal(q.serviceMs(10), q.serviceMs(100_000), 'a tiny image costs the fixed minimum');
});

test('aborts: a waiting analysis leaves the queue at once; a running one is answered at once and keeps its slot until it stops', async () => {
  const q = createAnalysisQueue({ concurrency: 1, maxWaiting: 10, maxWaitMs: Number.POSITIVE_INFINITY });
  const a = held();
  const stopA = new AbortController();
  const runningA = q.run(a.fn, undefined, { signal: stopA.signal });
  const stopB = new AbortController();
  let bRan = false;
  const waitingB = q.run(async () => (bRan = true), undefined, { signal: stopB.signal });
  const c = q.run(async () => 'c');
  stopB.abort(new FacesenseError('TIMEOUT', 'deadline'));
  await assert.rejects(waitingB, (e) => code(e) === 'TIMEOUT');
  assert.equal(q.waiting, 1, 'B left the queue');

  stopA.abort(new FacesenseError('CANCELLED', 'client gone'));
  await assert.rejects(runningA, (e) => code(e) === 'CANCELLED');
  await tick();
  assert.equal(q.active, 1, 'A still runs: its slot is not given to C before it stops');
  assert.equal(q.waiting, 1);
  a.finish();
  assert.equal(await c, 'c');
  assert.equal(bRan, false);
  await q.drained();
  // An already-fired signal never queues.
  await assert.rejects(q.run(async () => 'late', undefined, { signal: AbortSignal.abort(new FacesenseError('TIMEOUT', 'x')) }), (e) => code(e) === 'TIMEOUT');
});

test('admission: an admitted analysis still waiting when its bound has passed is dropped unrun, even when its timer is late', async () => {
  const q = createAnalysisQueue({ concurrency: 1, maxWaiting: 10, maxWaitMs: Number.POSITIVE_INFINITY });
  const a = held();
  const runningA = q.run(a.fn);
  let ran = false;
  const b = q.run(async () => (ran = true), undefined, { dropAfterMs: 20 });
  const c = q.run(async () => 'c');
  // The event loop is blocked past B's bound (as a synchronous inference would): its timer cannot fire,
  // and the slot A frees is handed to C instead of B.
  const until = performance.now() + 40;
  while (performance.now() < until);
  a.finish();
  await assert.rejects(b, (e) => code(e) === 'OVERLOADED' && /20 ms/.test((e as Error).message));
  assert.deepEqual(await Promise.all([runningA, c]), ['done', 'c']);
  assert.equal(ran, false);
  // With a free event loop the timer drops it on time.
  const d = held();
  const runningD = q.run(d.fn);
  const e = q.run(async () => 'e', undefined, { dropAfterMs: 20 });
  await assert.rejects(e, (err) => code(err) === 'OVERLOADED');
  assert.equal(q.waiting, 0);
  d.finish();
  await runningD;
});
