/**
 * The queue with the real engines: redis-server and PostgreSQL started here on loopback ports
 * (test/helpers/engines.ts; a server that cannot start fails the test), workers as real
 * `facesense worker` processes, killed and restarted as an operator's machines would be.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { cli } from './helpers/cli.js';
import { imageDir } from './helpers/batch-inputs.js';
import { createPostgres, createRedis, freePort } from './helpers/engines.js';
import { media } from './helpers/media.js';
import { exited, startWorker, until } from './helpers/queue.js';


test('queue + PostgreSQL: poison input dead-lettered, worker killed mid-job, duplicate delivery, export, SIGTERM', { timeout: 300_000 }, async () => {
  const redis = await createRedis();
  const db = await createPostgres();
  const r = new Redis(redis.url);
  const workers: ChildProcess[] = [];
  try {
    const { images, inputs, faces } = await imageDir(16);
    const sub = await cli(['batch', 'submit', images, media('single_face.mp4'), '--redis', redis.url, '--postgres', db.url, '--batch', 'q1', '--segment-sec', '1', '--overlap-sec', '0.3']);
    assert.equal(sub.code, 0, sub.stderr);
    assert.match(sub.stderr, /20 job\(s\) queued \(17 image\(s\) in chunks of 1, 1 video\(s\)\)/);
    const missing = await cli(['batch', 'submit', join(images, 'nope.jpg'), '--redis', redis.url, '--postgres', db.url]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /nope\.jpg.*INPUT_NOT_FOUND/);

    const a = startWorker(redis.url);
    workers.push(a);
    const queue = new Queue('facesense', { connection: { host: '127.0.0.1', port: redis.port } });
    await until('the first jobs', async () => (await r.scard('facesense:batch:q1:done')) >= 3);
    await until('a job in flight', async () => (await queue.getActiveCount()) > 0);
    a.kill('SIGKILL');
    await exited(a);
    const b = startWorker(redis.url);
    workers.push(b);
    // The killed worker's job stays active until its lock expires; finishing the batch needs it recovered.
    await until('the batch to finish', async () => (await r.scard('facesense:batch:q1:done')) + (await r.hlen('facesense:batch:q1:failed')) === 20);

    const status = await cli(['batch', 'status', 'q1', '--redis', redis.url]);
    assert.match(status.stdout, /19\/20 jobs done, 1 failed, 0 pending/);
    assert.match(status.stdout, /failed q1-\d+ \[UNSUPPORTED_FORMAT\] .*zz-not-an-image\.jpg/);

    const client = new pg.Client(db.url);
    await client.connect();
    try {
      const rows = async () => (await client.query<{ source: string; n: string; faces: string }>("SELECT i.source, count(*) AS n, (SELECT count(*) FROM facesense_faces f WHERE f.batch_id = i.batch_id AND f.source = i.source) AS faces FROM facesense_images i WHERE batch_id = 'q1' GROUP BY i.batch_id, i.source ORDER BY i.source")).rows;
      let got = await rows();
      assert.deepEqual(got.map((x) => x.source), [...inputs].sort(), 'one image row per input, none missing');
      assert.equal(got.reduce((s, x) => s + Number(x.faces), 0), faces, 'face rows');
      const bad = (await client.query<{ error_code: string }>("SELECT error_code FROM facesense_images WHERE batch_id = 'q1' AND NOT ok")).rows;
      assert.deepEqual(bad, [{ error_code: 'UNSUPPORTED_FORMAT' }]);

      // Duplicate delivery: a completed job runs again; it overwrites its own rows.
      const job = (await queue.getJob('q1-0000003'))!;
      const before = (await client.query<{ updated_at: Date }>("SELECT updated_at FROM facesense_images WHERE batch_id = 'q1' AND source = $1", [job.data.paths[0]])).rows[0]!.updated_at;
      await job.retry('completed');
      await until('the redelivered job', async () => {
        const t = (await client.query<{ updated_at: Date }>("SELECT updated_at FROM facesense_images WHERE batch_id = 'q1' AND source = $1", [job.data.paths[0]])).rows[0]!.updated_at;
        return t > before && (await queue.getJob('q1-0000003'))?.finishedOn !== undefined && (await (await queue.getJob('q1-0000003'))!.isCompleted());
      });
      got = await rows();
      assert.equal(got.length, inputs.length);
      assert.ok(got.every((x) => x.n === '1'));
      assert.equal(got.reduce((s, x) => s + Number(x.faces), 0), faces, 'no duplicate face rows after redelivery');
      assert.equal(Number((await client.query("SELECT count(*) FROM facesense_segments WHERE batch_id = 'q1'")).rows[0].count), 3);
    } finally {
      await client.end();
    }

    const dir = join(images, '..');
    const csv = await cli(['batch', 'results', 'q1', '--redis', redis.url, '--format', 'csv', '--out', join(dir, 'q1.csv'), '--videos', join(dir, 'videos')]);
    assert.equal(csv.code, 0, csv.stderr);
    const lines = (await readFile(join(dir, 'q1.csv'), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 1 + faces + 1);
    const summary = JSON.parse(await readFile(join(dir, 'videos', 'single_face.summary.json'), 'utf8')) as { segments: number; tracks: { trackId: number; frames: number }[]; framesAnalysed: number };
    assert.equal(summary.segments, 3);
    assert.equal(summary.tracks.length, 1, 'the face is one track across the three segments');
    assert.ok(summary.framesAnalysed >= 70, `every frame once (${summary.framesAnalysed})`);

    // Graceful stop: SIGTERM while idle exits 0.
    b.kill('SIGTERM');
    await exited(b);
    assert.equal(b.exitCode, 0, b.log.join('\n'));
    await queue.close();
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    r.disconnect();
    await db.dispose();
    await redis.dispose();
  }
});

test('queue + files: a worker started before Redis waits; Redis restarted mid-batch loses no job; one record per input', { timeout: 300_000 }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const w = startWorker(url);
  let redis;
  try {
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(w.exitCode, null, `the worker waits for Redis: ${w.log.join('\n')}`);
    redis = await createRedis({ port });
    const { dir, images, inputs } = await imageDir(20);
    const out = join(dir, 'shared-out');
    const sub = await cli(['batch', 'submit', images, '--redis', url, '--out', out, '--batch', 'f1']);
    assert.equal(sub.code, 0, sub.stderr);
    const r = new Redis(url, { maxRetriesPerRequest: null });
    r.on('error', () => undefined);
    try {
      await until('the first jobs', async () => (await r.scard('facesense:batch:f1:done')) >= 3);
      await redis.stop(true); // SIGKILL: only the append-only file (fsync always) survives
      await new Promise((res) => setTimeout(res, 1500));
      await redis.start();
      await until('the batch to finish', async () => (await r.scard('facesense:batch:f1:done')) + (await r.hlen('facesense:batch:f1:failed')) === 21);
      const res = await cli(['batch', 'results', 'f1', '--redis', url, '--format', 'jsonl']);
      const records = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; ok: boolean; error?: { code: string } });
      assert.deepEqual(records.map((x) => x.source), [...inputs].sort(), 'one record per input, in source order');
      assert.equal(records.find((x) => !x.ok)?.error?.code, 'UNSUPPORTED_FORMAT');
      assert.ok(w.log.some((l) => l.includes('connected')), w.log.join('\n'));
    } finally {
      r.disconnect();
    }
  } finally {
    w.kill('SIGKILL');
    await exited(w);
    await redis?.dispose();
  }
});

test('queue: retry-failed after the poison input is fixed on disk (exactly one record for it); cancel mid-batch (waiting jobs removed, no further records)', { timeout: 300_000 }, async () => {
  const redis = await createRedis();
  const r = new Redis(redis.url);
  const w = startWorker(redis.url);
  try {
    const { dir, images, inputs } = await imageDir(6);
    const out = join(dir, 'shared-out');
    const bad = inputs.find((p) => p.endsWith('zz-not-an-image.jpg'))!;
    assert.equal((await cli(['batch', 'submit', images, '--redis', redis.url, '--out', out, '--batch', 'r1'])).code, 0);
    await until('batch r1', async () => (await r.scard('facesense:batch:r1:done')) + (await r.hlen('facesense:batch:r1:failed')) === 7);
    let status = await cli(['batch', 'status', 'r1', '--redis', redis.url]);
    assert.equal(status.code, 1, 'a batch with failures exits 1');
    assert.match(status.stdout, /6\/7 jobs done, 1 failed, 0 pending/);
    assert.match(status.stdout, /\[UNSUPPORTED_FORMAT\] .*zz-not-an-image\.jpg/);

    // The operator replaces the bad file, then puts the dead letter back in the queue.
    await writeFile(bad, await readFile(media('single_face.jpg')));
    const retry = await cli(['batch', 'retry-failed', 'r1', '--redis', redis.url]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /1 failed job\(s\) back in the queue/);
    await until('the retried job', async () => (await r.scard('facesense:batch:r1:done')) === 7);
    status = await cli(['batch', 'status', 'r1', '--redis', redis.url]);
    assert.equal(status.code, 0, status.stdout);
    assert.match(status.stdout, /7\/7 jobs done, 0 failed, 0 pending/);
    const records = (await cli(['batch', 'results', 'r1', '--redis', redis.url, '--format', 'jsonl'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; ok: boolean; faces?: unknown[] });
    assert.deepEqual(records.map((x) => x.source), [...inputs].sort(), 'one record per input');
    const fixed = records.filter((x) => x.source === bad);
    assert.equal(fixed.length, 1, 'exactly one record for the fixed input');
    assert.equal(fixed[0]!.ok, true);
    assert.equal(fixed[0]!.faces?.length, 1);

    // Cancel mid-batch: the waiting jobs leave the queue, the batch says cancelled, and no record is added after.
    const many = await imageDir(200);
    assert.equal((await cli(['batch', 'submit', many.images, '--redis', redis.url, '--out', out, '--batch', 'c1'])).code, 0);
    await until('the first jobs of c1', async () => (await r.scard('facesense:batch:c1:done')) >= 3);
    const cancel = await cli(['batch', 'cancel', 'c1', '--redis', redis.url]);
    assert.equal(cancel.code, 0, cancel.stderr);
    const removed = Number(/(\d+) waiting job\(s\) removed/.exec(cancel.stdout)?.[1]);
    // How many the cancel removes is a race it need not win: it marks the batch cancelled first, and a worker
    // that takes a waiting job of a cancelled batch completes it at once without analysing it. What must
    // hold is below: no record after the cancel, nothing left waiting or running, the worker still up.
    assert.ok(Number.isInteger(removed), cancel.stdout);
    const count = async () => (await cli(['batch', 'results', 'c1', '--redis', redis.url, '--format', 'jsonl'])).stdout.trim().split('\n').filter(Boolean).length;
    const atCancel = await count();
    assert.ok(atCancel >= 3 && atCancel + removed <= 201, `${atCancel} records, ${removed} removed`);
    // Long enough for a job that was in flight to have ended, and for the worker to take another if one were left.
    await new Promise((res) => setTimeout(res, 4000));
    assert.equal(await count(), atCancel, 'no record after the cancel');
    const queue = new Queue('facesense', { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      assert.equal(await queue.getWaitingCount(), 0);
      assert.equal(await queue.getActiveCount(), 0);
    } finally {
      await queue.close();
    }
    status = await cli(['batch', 'status', 'c1', '--redis', redis.url]);
    assert.match(status.stdout, /\(cancelled\)/);
    assert.equal(w.exitCode, null, 'the worker goes on after a cancel');
  } finally {
    w.kill('SIGKILL');
    await exited(w);
    r.disconnect();
    await redis.dispose();
  }
});

test('queue: a worker with two jobs in flight runs batches of different settings back to back; no job loses its models to the other', { timeout: 300_000 }, async () => {
  const redis = await createRedis();
  const r = new Redis(redis.url);
  const { dir, images } = await imageDir(12);
  const out = join(dir, 'out');
  const w = startWorker(redis.url, ['--concurrency', '2']);
  try {
    // Four batches alternating two settings, three images per job: every boundary between them has a job of
    // each settings in flight at once (the worker once disposed the first one's analyzer under it).
    const batches = [['s1', 'emotion'], ['s2', 'age,gender'], ['s3', 'emotion'], ['s4', 'age,gender']] as const;
    for (const [id, tasks] of batches) {
      const sub = await cli(['batch', 'submit', images, '--redis', redis.url, '--out', out, '--batch', id, '--tasks', tasks, '--chunk', '3']);
      assert.equal(sub.code, 0, sub.stderr);
    }
    for (const [id] of batches) await until(`batch ${id}`, async () => (await r.scard(`facesense:batch:${id}:done`)) + (await r.hlen(`facesense:batch:${id}:failed`)) === 5);
    for (const [id, tasks] of batches) {
      const res = await cli(['batch', 'results', id, '--redis', redis.url, '--format', 'jsonl']);
      const records = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { source: string; ok: boolean; error?: { code: string }; faces?: { attributes: Record<string, unknown> }[] });
      assert.equal(records.length, 13, `${id}: one record per input`);
      const bad = records.filter((x) => !x.ok);
      assert.deepEqual(bad.map((x) => `${x.source.split('/').pop()} ${x.error?.code}`), ['zz-not-an-image.jpg UNSUPPORTED_FORMAT'], id);
      for (const x of records.filter((y) => y.ok)) for (const f of x.faces ?? []) assert.deepEqual(Object.keys(f.attributes).sort(), tasks.split(',').sort(), `${id} ${x.source}`);
    }
    assert.equal(w.exitCode, null);
  } finally {
    w.kill('SIGKILL');
    await exited(w);
    r.disconnect();
    await redis.dispose();
  }
});
