/**
 * `npm run bench:scale`: what the queue costs and what many machines would do. On this machine,
 * with redis-server and PostgreSQL started here (test/helpers/engines.ts):
 *   - images/s of one process without a queue (the analyzer in a loop),
 *   - images/s of 1 and 2 `facesense worker` processes through BullMQ into PostgreSQL,
 *   - per-job queue latency (enqueue → a waiting worker starts it),
 *   - Redis commands, Redis CPU and memory, and PostgreSQL time and bytes per image.
 * --images N (default 60) inputs, links to the shared photos (single_face.jpg / multi_face.jpg);
 * --worker-concurrency N jobs in flight per worker process (default: the worker's own default).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createAnalyzer } from '../src/node/analyzer.js';
import { createPostgresSink } from '../src/results/postgres.js';
import { DEFAULT_WORKER_CONCURRENCY } from '../src/queue/worker.js';
import { recordOf } from '../src/results/records.js';
import { imageDir } from '../test/helpers/batch-inputs.js';
import { createPostgres, createRedis } from '../test/helpers/engines.js';

const { values } = parseArgs({ options: { images: { type: 'string', default: '60' }, 'worker-concurrency': { type: 'string' }, json: { type: 'boolean', default: false } } });
const N = Number(values.images);
const WORKER_CONCURRENCY = values['worker-concurrency'] ?? String(DEFAULT_WORKER_CONCURRENCY);
const BIN = resolve('bin', 'facesense.js');
const MODELS = process.env.FACESENSE_MODELS ?? resolve('..', 'shared', 'models');
const env = { ...process.env, FACESENSE_MODELS: MODELS, FACESENSE_OFFLINE: '1' };
const cores = cpus().length;
const out: Record<string, number | string> = { cores, images: N, workerConcurrency: Number(WORKER_CONCURRENCY) };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Redis commands this script sends while polling, subtracted from the per-image counts. */
let polls = 0;
async function until(check: () => Promise<boolean>, everyMs = 500): Promise<void> {
  for (;;) {
    polls++;
    if (await check()) return;
    await sleep(everyMs);
  }
}
function run(args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.once('exit', (c) => (c === 0 ? res(s) : rej(new Error(`${args.join(' ')} exited ${c}`))));
  });
}

const { images, inputs } = await imageDir(N);
const paths = inputs.slice(0, N); // the last input is the non-image: leave it out here

// 1. One process, no queue.
{
  const analyzer = await createAnalyzer({ store: { modelsDir: MODELS }, threads: cores });
  await analyzer.analyze(paths[0]!);
  const t0 = performance.now();
  for (const p of paths) await analyzer.analyze(p);
  out.noQueueImagesPerSec = N / ((performance.now() - t0) / 1000);
  await analyzer.dispose();
}

const redis = await createRedis();
const db = await createPostgres();
const r = new Redis(redis.url);
const client = new pg.Client(db.url);
await client.connect();
const workers: ChildProcess[] = [];
try {
  // 2. PostgreSQL cost per image, measured in-process: one job's transaction per image.
  {
    const analyzer = await createAnalyzer({ store: { modelsDir: MODELS }, threads: cores });
    const recs = [];
    for (const p of paths.slice(0, 10)) recs.push(recordOf({ ok: true, source: p, result: await analyzer.analyze(p) }));
    await analyzer.dispose();
    const sink = await createPostgresSink(db.url);
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) await sink.writeImages('pgcost', `j${i}`, [{ ...recs[i % recs.length]!, source: `img${i}` }]);
    out.pgMsPerImage = (performance.now() - t0) / 200;
    const size = (await client.query<{ b: string }>("SELECT pg_total_relation_size('facesense_images') + pg_total_relation_size('facesense_faces') AS b")).rows[0]!.b;
    out.pgBytesPerImage = Math.round(Number(size) / 200);
    await sink.drop('pgcost');
    await sink.close();
  }

  const redisStats = async () => {
    const info = await r.info();
    const num = (k: string) => Number(new RegExp(`^${k}:(\\S+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    const calls = [...(await r.info('commandstats')).matchAll(/^cmdstat_\w+:calls=(\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    return { cpu: num('used_cpu_sys') + num('used_cpu_user'), mem: num('used_memory'), calls };
  };

  // 3. Through the queue with 1 and 2 worker processes (each with cores / workers threads).
  for (const n of [1, 2]) {
    const batch = `scale${n}`;
    for (let i = 0; i < n; i++) {
      const w = spawn(process.execPath, [BIN, 'worker', '--redis', redis.url, '--threads', String(Math.max(1, Math.floor(cores / n))), '--concurrency', WORKER_CONCURRENCY, '--quiet'], { env, stdio: 'ignore' });
      workers.push(w);
    }
    // Warm-up batch: loads the models in every worker, so the timed batch measures steady state.
    await run(['batch', 'submit', ...paths.slice(0, 2 * n), '--redis', redis.url, '--postgres', db.url, '--batch', `${batch}w`]);
    await until(async () => (await r.scard(`facesense:batch:${batch}w:done`)) === 2 * n);
    const before = await redisStats();
    polls = 0;
    const t0 = performance.now();
    await run(['batch', 'submit', images, '--redis', redis.url, '--postgres', db.url, '--batch', batch]);
    await until(async () => (await r.scard(`facesense:batch:${batch}:done`)) + (await r.hlen(`facesense:batch:${batch}:failed`)) === N + 1);
    const secs = (performance.now() - t0) / 1000;
    const after = await redisStats();
    out[`queue${n}ImagesPerSec`] = N / secs;
    out[`queue${n}RatioToNoQueue`] = N / secs / (out.noQueueImagesPerSec as number);
    // Each poll is 2 commands (SCARD, HLEN); the INFO pair of redisStats is 2 more.
    out[`queue${n}RedisCommandsPerImage`] = (after.calls - before.calls - 2 * polls - 2) / (N + 1);
    out[`queue${n}RedisCpuMsPerImage`] = ((after.cpu - before.cpu) * 1000) / (N + 1);
    out[`queue${n}RedisBytesPerJob`] = Math.round((after.mem - before.mem) / (N + 1));
    if (n === 1) {
      // 4. Latency: with the worker idle, enqueue one job at a time; enqueue → processing start.
      const q = new Queue('facesense', { connection: { host: '127.0.0.1', port: redis.port } });
      const lat: number[] = [];
      await run(['batch', 'submit', ...paths.slice(0, 10), '--redis', redis.url, '--postgres', db.url, '--batch', 'latency', '--chunk', '10']);
      await until(async () => (await r.scard('facesense:batch:latency:done')) === 1);
      const meta = await r.hget('facesense:batch:latency', 'meta');
      await r.hset('facesense:batch:lat1', 'meta', meta!.replace('"latency"', '"lat1"'));
      for (let i = 0; i < 10; i++) {
        const job = await q.add('images', { batchId: 'lat1', kind: 'images', paths: [paths[i]!] }, { jobId: `lat1-${i}` });
        await until(async () => (await q.getJob(job.id!))?.finishedOn !== undefined, 50);
        const j = (await q.getJob(job.id!))!;
        lat.push(j.processedOn! - j.timestamp);
        await sleep(100);
      }
      lat.sort((a, b) => a - b);
      out.queueLatencyMsMedian = lat[5]!;
      out.queueLatencyMsMax = lat[9]!;
      await q.close();
    }
    for (const w of workers.splice(0)) {
      w.kill('SIGTERM');
      await new Promise((res) => w.once('exit', res));
    }
  }
} finally {
  for (const w of workers) w.kill('SIGKILL');
  r.disconnect();
  await client.end();
  await db.dispose();
  await redis.dispose();
}
if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
else for (const [k, v] of Object.entries(out)) process.stdout.write(`${k.padEnd(28)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : v}\n`);
