/**
 * `npm run bench:serve`: `facesense serve` under load on loopback, beside the library's own
 * images/s in the same run. The server runs in a child process (`facesense serve`) so the load
 * generator (autocannon, in this process) does not share its event loop.
 *
 * Cells: multi_face.jpg (1000×667, 5 faces) and a 640×480 one-face JPEG at 1, 8 and 64
 * connections: images/s (2xx answers), p50/p95/p99 latency of the 2xx answers, 503s; a cell at 4×
 * the server's capacity (running + waiting analyses) that must answer 503s, not queue; RSS before
 * and after N requests.
 *
 * Options: --duration S per cell (default 10; the figure is 60), --connections 1,8,64,
 * --rss-requests N (default 1000; 10000 for the figure), --concurrency N (server and
 * library analyses in flight, default 2), --queue N (server queue, default 4 × concurrency), --json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import sharp from 'sharp';
import { createAnalyzer } from '../src/node/analyzer.js';

const SHARED = resolve(process.cwd(), '..', 'shared');
const MEDIA = join(SHARED, 'media');
const MODELS_DIR = process.env.FACESENSE_MODELS ?? join(SHARED, 'models');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,8,64' },
    'rss-requests': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '2' },
    queue: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const connections = values.connections.split(',').map(Number);
const rssRequests = Number(values['rss-requests']);
const concurrency = Number(values.concurrency);
const queue = values.queue === undefined ? 4 * concurrency : Number(values.queue);

interface Cell {
  readonly bench: string;
  readonly imagesPerSec: number;
  readonly p50Ms?: number;
  readonly p95Ms?: number;
  readonly p99Ms?: number;
  readonly ok: number;
  readonly status503: number;
  readonly otherErrors: number;
  readonly note: string;
}
const cells: Cell[] = [];

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The library's own images/s on the same bytes: `concurrency` analyses in flight for `seconds`. */
async function libraryRate(bytes: Buffer, seconds: number): Promise<number> {
  const analyzer = await createAnalyzer({ store: { modelsDir: MODELS_DIR, allowDownload: false }, pixelLimit: 40_000_000 });
  try {
    for (let i = 0; i < 3; i++) await analyzer.analyze(bytes);
    let done = 0;
    const end = performance.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await analyzer.analyze(bytes);
          done++;
        }
      }),
    );
    return (done * 1000) / (performance.now() - t0);
  } finally {
    await analyzer.dispose();
  }
}

async function startServer(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['bin/facesense.js', 'serve', '--port', '0', '--concurrency', String(concurrency), '--queue', String(queue), '--log-level', 'silent', '--data-dir', join(process.env.TMPDIR ?? '/tmp', `facesense-bench-${process.pid}`)], {
    env: { ...process.env, FACESENSE_MODELS: MODELS_DIR, FACESENSE_OFFLINE: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const url = await new Promise<string>((res, rej) => {
    let err = '';
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m !== null) res(m[1]!);
    });
    proc.on('exit', (code) => rej(new Error(`server exited (${code}): ${err}`)));
  });
  return { proc, url };
}

/** Waits until the server has nothing running or waiting (a finished load run may leave queued work). */
async function idle(url: string): Promise<void> {
  for (;;) {
    const r = await fetch(`${url}/readyz`).catch(() => undefined);
    const q = r?.ok === true ? ((await r.json()) as { queue: { active: number; waiting: number } }).queue : undefined;
    if (q !== undefined && q.active === 0 && q.waiting === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

/** One autocannon run: by duration or by request count; 2xx latencies measured per response. */
async function load(url: string, body: Buffer, conns: number, by: { duration: number } | { amount: number }) {
  const latencies: number[] = [];
  let ok = 0;
  let s503 = 0;
  let other = 0;
  const t0 = performance.now();
  let instance: autocannon.Instance | undefined;
  const finished = new Promise<autocannon.Result>((res, rej) => {
    instance = autocannon({ url: `${url}/v1/analyze`, method: 'POST', headers: { 'content-type': 'image/jpeg' }, body, connections: conns, timeout: 60, ...by }, (err, r) => (err === null || err === undefined ? res(r) : rej(err as Error)));
  });
  instance!.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) {
      ok++;
      latencies.push(ms);
    } else if (status === 503) s503++;
    else other++;
  });
  const result = await finished;
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { ok, s503, other: other + result.errors + result.timeouts, seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  const multi = await readFile(join(MEDIA, 'multi_face.jpg'));
  const single = await sharp(join(MEDIA, 'single_face.jpg')).rotate().resize(640, 480, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
  const images = [
    { name: 'multi_face.jpg 1000×667, 5 faces', bytes: multi },
    { name: 'single_face 640×480 JPEG, 1 face', bytes: single },
  ];
  const { proc, url } = await startServer();
  let codes = '';
  try {
    // Warm up (first runs of ONNX Runtime sessions are slow) before RSS and throughput.
    await load(url, single, 1, { amount: 20 });
    for (const img of images) {
      // Measured right before the image's HTTP cells, on the same machine load (the server idles meanwhile).
      await idle(url);
      const lib = await libraryRate(img.bytes, Math.min(duration, 10));
      cells.push({ bench: `library ${img.name}, ${concurrency} in flight`, imagesPerSec: lib, ok: 0, status503: 0, otherErrors: 0, note: 'analyzer.analyze(bytes) in this process' });
      for (const c of connections) {
        await idle(url);
        const r = await load(url, img.bytes, c, { duration });
        const rate = r.ok / r.seconds;
        cells.push({
          bench: `HTTP ${img.name}, ${c} connection(s)`,
          imagesPerSec: rate,
          p50Ms: r.p50,
          p95Ms: r.p95,
          p99Ms: r.p99,
          ok: r.ok,
          status503: r.s503,
          otherErrors: r.other,
          note: `${((100 * rate) / lib).toFixed(0)}% of the library's rate`,
        });
      }
    }
    const capacity = concurrency + queue;
    await idle(url);
    const rss0 = rssMiB(proc.pid!);
    const over = await load(url, single, 4 * capacity, { duration });
    const rss1 = rssMiB(proc.pid!);
    cells.push({
      bench: `HTTP overload: ${4 * capacity} connections = 4× capacity (${concurrency} running + ${queue} waiting), 640×480`,
      imagesPerSec: over.ok / over.seconds,
      p50Ms: over.p50,
      p95Ms: over.p95,
      p99Ms: over.p99,
      ok: over.ok,
      status503: over.s503,
      otherErrors: over.other,
      note: `RSS ${rss0.toFixed(0)} → ${rss1.toFixed(0)} MiB`,
    });
    await idle(url);
    const before = rssMiB(proc.pid!);
    const n = await load(url, single, 8, { amount: rssRequests });
    const afterN = rssMiB(proc.pid!);
    cells.push({ bench: `HTTP RSS before/after ${rssRequests} requests (8 connections, 640×480)`, imagesPerSec: n.ok / n.seconds, ok: n.ok, status503: n.s503, otherErrors: n.other, note: `RSS ${before.toFixed(0)} → ${afterN.toFixed(0)} MiB` });
    // Why the server said 503 (OVERLOADED: queue full; TIMEOUT: waited too long; under-pressure also answers OVERLOADED).
    const m = await (await fetch(`${url}/metrics`)).text();
    codes = [...m.matchAll(/^facesense_errors_total\{code="(\w+)"\} (\d+)/gm)].map((x) => `${x[1]} ${x[2]}`).join(', ');
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
  }

  if (values.json) {
    process.stdout.write(`${JSON.stringify(cells, null, 2)}\n`);
    return;
  }
  const f = (v: number | undefined, d = 1) => (v === undefined || Number.isNaN(v) ? '' : v.toFixed(d));
  const lines = [`| bench | images/s | p50 ms | p95 ms | p99 ms | 2xx | 503 | other errors | note |`, `|---|---:|---:|---:|---:|---:|---:|---:|---|`];
  for (const c of cells) lines.push(`| ${c.bench} | ${f(c.imagesPerSec)} | ${f(c.p50Ms, 0)} | ${f(c.p95Ms, 0)} | ${f(c.p99Ms, 0)} | ${c.ok} | ${c.status503} | ${c.otherErrors} | ${c.note} |`);
  process.stdout.write(`${lines.join('\n')}\n\n${duration} s per cell; server: facesense serve --concurrency ${concurrency} --queue ${queue}; Node ${process.version}; server errors by code: ${codes || 'none'}\n`);
}

await main();
