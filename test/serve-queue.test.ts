/**
 * `facesense serve --redis`: video jobs on the BullMQ queue, analysed by a real `facesense worker`
 * process, with redis-server started here on a loopback port (a Redis that cannot start fails the
 * test). The stitched rows are compared with an in-process server's rows for the same clip; the
 * queue dashboard is checked behind the API keys; a cancelled job leaves nothing on the queue.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { iou } from '../src/core/detect/nms.js';
import type { Box } from '../src/core/types.js';
import { createServer, type FacesenseServer, type ServerOptions } from '../src/server/app.js';
import { batchOfJob } from '../src/server/queue-runner.js';
import { createRedis } from './helpers/engines.js';
import { media, SHARED_MODELS, tempDir } from './helpers/media.js';
import { exited, startWorker, until, type WorkerProcess } from './helpers/queue.js';

process.env.FACESENSE_MODELS ??= SHARED_MODELS;
process.env.FACESENSE_OFFLINE = '1';

const KEY = 'queue-test-key';
const auth = { 'x-api-key': KEY };

async function start(o: ServerOptions): Promise<{ server: FacesenseServer; url: string }> {
  const log = new PassThrough();
  log.resume();
  const server = await createServer({ port: 0, logger: { level: 'warn', stream: log }, maxEventLoopDelayMs: 30_000, ...o });
  return { server, url: await server.listen() };
}

interface JobView {
  id: string;
  state: string;
  error?: { code: string; message: string };
  progress: { frames: number; segments?: { done: number; total: number } };
  result?: { framesAnalysed: number; tracks: number; faceRows: number };
}
interface Row {
  frame: number;
  timeMs: number;
  track: number;
  boxPx: Box;
  attributes: Record<string, { kind: string; label?: string }>;
  smoothed: Record<string, { kind: string; label?: string }>;
}

async function upload(url: string, path: string, query = '', headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/videos?name=${encodeURIComponent(path)}${query}`, { method: 'POST', headers: { 'content-type': 'video/mp4', ...headers }, body: await readFile(path) });
}

async function waitJob(url: string, id: string, done: (j: JobView) => boolean, headers: Record<string, string> = {}): Promise<JobView> {
  let j: JobView | undefined;
  await until(`job ${id}`, async () => done((j = (await (await fetch(`${url}/v1/jobs/${id}`, { headers })).json()) as JobView)), 240_000);
  return j!;
}

const rowsOf = async (url: string, id: string, headers: Record<string, string> = {}) =>
  (await (await fetch(`${url}/v1/jobs/${id}/rows`, { headers })).text()).trim().split('\n').map((l) => JSON.parse(l) as Row);

test('serve --redis: a video job runs on a worker, rows equal to the in-process server\'s up to track-boundary effects; dashboard behind the keys; cancel', { timeout: 400_000 }, async () => {
  const redis = await createRedis();
  const workers: WorkerProcess[] = [];
  const servers: FacesenseServer[] = [];
  try {
    const local = await start({ dataDir: await tempDir('facesense-serve-local-') });
    servers.push(local.server);
    const shared = await tempDir('facesense-serve-queue-');
    const q = await start({ dataDir: shared, apiKeys: [KEY], queue: { url: redis.url, segmentSec: 1, overlapSec: 0.5 } });
    servers.push(q.server);

    // The dashboard: behind the API keys like every other route.
    assert.equal((await fetch(`${q.url}/admin/queues`)).status, 401);
    const board = await fetch(`${q.url}/admin/queues`, { headers: auth });
    assert.equal(board.status, 200);
    assert.match(await board.text(), /<html/i);
    const queues = (await (await fetch(`${q.url}/admin/queues/api/queues`, { headers: auth })).json()) as { queues: { name: string }[] };
    assert.deepEqual(queues.queues.map((x) => x.name), ['facesense']);
    // What the workers cannot do is refused before the upload is stored.
    const refused = await upload(q.url, media('single_face.mp4'), '&annotate=true', auth);
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'INVALID_OPTION');

    // Cancel: with no worker running, the job waits on the queue; DELETE removes its segments from the queue.
    const queue = new Queue('facesense', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      const waiting = await upload(q.url, media('single_face.mp4'), '', auth);
      assert.equal(waiting.status, 202);
      const w = (await waiting.json()) as JobView;
      const queued = await waitJob(q.url, w.id, (j) => j.progress.segments !== undefined, auth);
      assert.equal(queued.state, 'queued');
      assert.deepEqual(queued.progress.segments, { done: 0, total: 3 });
      assert.equal(await queue.getWaitingCount(), 3);
      const del = await fetch(`${q.url}/v1/jobs/${w.id}`, { method: 'DELETE', headers: auth });
      assert.equal(del.status, 200);
      assert.equal(((await del.json()) as JobView).state, 'cancelled');
      assert.equal(await queue.getWaitingCount(), 0, 'the cancelled job\'s segments are off the queue');

      // A job to completion on a worker process.
      const worker = startWorker(redis.url);
      workers.push(worker);
      const res = await upload(q.url, media('single_face.mp4'), '', auth);
      assert.equal(res.status, 202);
      const job = (await res.json()) as JobView;
      const done = await waitJob(q.url, job.id, (j) => j.state === 'done' || j.state === 'failed' || j.state === 'cancelled', auth);
      assert.equal(done.state, 'done', JSON.stringify(done.error) + worker.log.join('\n'));
      assert.deepEqual(done.progress.segments, { done: 3, total: 3 });
      // The cancelled job's segments never ran.
      assert.equal(await queue.getCompletedCount(), 3);

      const ref = (await (await upload(local.url, media('single_face.mp4'))).json()) as JobView;
      const refDone = await waitJob(local.url, ref.id, (j) => j.state === 'done' || j.state === 'failed');
      assert.equal(refDone.state, 'done');

      // Rows: the same frames and faces; boxes and labels equal but for the track-boundary effects
      // (a segment's detector cadence and smoothers restart in its overlap), measured in the README.
      const [a, b] = [await rowsOf(local.url, ref.id), await rowsOf(q.url, job.id, auth)];
      assert.equal(b.length, a.length, 'one row per frame and face');
      assert.deepEqual(b.map((r) => r.frame), a.map((r) => r.frame));
      for (const [i, r] of a.entries()) assert.ok(Math.abs(b[i]!.timeMs - r.timeMs) <= 1, `row ${i}: ${b[i]!.timeMs} vs ${r.timeMs} ms`);
      assert.deepEqual(new Set(b.map((r) => r.track)), new Set(a.map((r) => r.track)), 'one track, stitched across the 3 segments');
      const label = (x: Row['attributes'][string] | undefined) => x?.label;
      const tasks = Object.keys(a[0]!.attributes).filter((t) => a[0]!.attributes[t]!.kind === 'class');
      assert.ok(tasks.length > 0);
      let boxes = 0;
      let raw = 0;
      let smoothed = 0;
      for (const [i, r] of a.entries()) {
        if (iou(r.boxPx, b[i]!.boxPx) >= 0.7) boxes++;
        if (tasks.every((t) => label(r.attributes[t]) === label(b[i]!.attributes[t]))) raw++;
        if (tasks.every((t) => label(r.smoothed[t]) === label(b[i]!.smoothed[t]))) smoothed++;
      }
      process.stderr.write(`serve --redis vs in process, ${a.length} rows: boxes IoU ≥ 0.7 ${boxes}, same raw labels ${raw}, same smoothed labels ${smoothed}\n`);
      assert.ok(boxes >= 0.9 * a.length && raw >= 0.9 * a.length && smoothed >= 0.8 * a.length, `boxes ${boxes}, raw ${raw}, smoothed ${smoothed} of ${a.length}`);

      const [sa, sb] = [
        (await (await fetch(`${local.url}/v1/jobs/${ref.id}/summary`)).json()) as { framesAnalysed: number; tracks: { frames: number }[]; tasks: unknown; source: string },
        (await (await fetch(`${q.url}/v1/jobs/${job.id}/summary`, { headers: auth })).json()) as { framesAnalysed: number; tracks: { frames: number }[]; tasks: unknown; source: string },
      ];
      assert.equal(sb.framesAnalysed, sa.framesAnalysed);
      assert.deepEqual(sb.tracks.map((t) => t.frames), sa.tracks.map((t) => t.frames));
      assert.deepEqual(sb.tasks, sa.tasks);
      assert.equal(sb.source, sa.source);
      const timeline = await fetch(`${q.url}/v1/jobs/${job.id}/timeline`, { headers: auth });
      assert.equal(timeline.status, 200);
      assert.match(await timeline.text(), /<html/i);
      const csv = (await (await fetch(`${q.url}/v1/jobs/${job.id}/rows?format=csv`, { headers: auth })).text()).trim().split('\n');
      assert.equal(csv.length, 1 + a.length);

      // Deleting the finished job removes its batch from Redis too.
      assert.equal((await fetch(`${q.url}/v1/jobs/${job.id}`, { method: 'DELETE', headers: auth })).status, 204);
      const r = new Redis(redis.url);
      try {
        assert.equal(await r.exists(`facesense:batch:${batchOfJob(job.id)}`), 0);
      } finally {
        r.disconnect();
      }

      // Cancel while a worker runs a segment: the waiting ones leave the queue, the running one stops and writes nothing.
      const long = (await (await upload(q.url, media('WolfgangLanger_Pexels.mp4'), '', auth)).json()) as JobView;
      await waitJob(q.url, long.id, (j) => j.state === 'running' && (j.progress.segments?.done ?? 0) >= 1, auth);
      const doneKey = `facesense:batch:${batchOfJob(long.id)}:done`;
      const r2 = new Redis(redis.url);
      try {
        await until('a segment in flight', async () => (await queue.getActiveCount()) > 0);
        const cancelled = await fetch(`${q.url}/v1/jobs/${long.id}`, { method: 'DELETE', headers: auth });
        assert.equal(((await cancelled.json()) as JobView).state, 'cancelled');
        const doneAtCancel = await r2.scard(doneKey);
        assert.ok(doneAtCancel < 20, `${doneAtCancel} of 20 segments done`);
        assert.equal(await queue.getWaitingCount(), 0);
        await until('the running segment to stop', async () => (await queue.getActiveCount()) === 0, 15_000);
        await new Promise((res) => setTimeout(res, 1500));
        assert.equal(await r2.scard(doneKey), doneAtCancel, 'no segment finished after the cancel');
        assert.equal(((await (await fetch(`${q.url}/v1/jobs/${long.id}`, { headers: auth })).json()) as JobView).state, 'cancelled');
      } finally {
        r2.disconnect();
      }
      // The API document leaves the dashboard out.
      const doc = (await (await fetch(`${q.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.ok(!Object.keys(doc.paths).some((k) => k.startsWith('/admin')), Object.keys(doc.paths).join(' '));

      worker.kill('SIGTERM');
      await exited(worker);
      assert.equal(worker.exitCode, 0, worker.log.join('\n'));
    } finally {
      await queue.close();
    }
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    for (const s of servers) await s.close();
    await redis.dispose();
  }
});
