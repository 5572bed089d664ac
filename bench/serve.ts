/**
 * `npm run bench:serve`: `facesense serve` under load on loopback, beside the library's own
 * images/s in the same run. The server runs in a child process (`facesense serve`) so the load
 * generator (autocannon, in this process) does not share its event loop.
 *
 * Capacity: for each image, the smallest number of connections at which the server's throughput
 * reaches its plateau, i.e. at least 95% of the best images/s of a sweep over 1, 2, 3, 4, 6 and 8
 * connections (short runs of min(duration, 5) s each). Below it a connection waits for nothing
 * but its own analysis; above it requests queue (up to --max-queue-wait) or are refused with 503.
 *
 * Cells: multi_face.jpg (1000×667, 5 faces) and a 640×480 one-face JPEG at 1, capacity, 8 and 64
 * connections: images/s (2xx answers) beside the library's own in the same run, p50/p95/p99
 * latency of the 2xx answers, 2xx and 503 counts; a cell at 4× capacity (one face) with RSS before
 * and after (503s, no growth); RSS before and after N requests at capacity.
 *
 * Options: --duration S per cell (default 10; the issue's figure is 60), --connections 1,8,64
 * (cells beside capacity), --rss-requests N (default 1000; 10000 for the issue's figure),
 * --concurrency N (server and library analyses in flight, default 2), --queue N and
 * --max-queue-wait MS (default: the server's defaults), --json.
 *
 * The issue's protocol: npm run bench:serve -- --duration 60 --rss-requests 10000 (about 16 min).
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
    'max-queue-wait': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const connections = values.connections.split(',').map(Number);
const rssRequests = Number(values['rss-requests']);
const concurrency = Number(values.concurrency);
const serverArgs = [...(values.queue === undefined ? [] : ['--queue', values.queue]), ...(values['max-queue-wait'] === undefined ? [] : ['--max-queue-wait', values['max-queue-wait']])];
/** Connection counts the capacity sweep tries, and the share of the best throughput that counts as the plateau. */
const SWEEP = [1, 2, 3, 4, 6, 8];
const PLATEAU = 0.95;

interface Cell {
  readonly bench: string;
  readonly connections?: number;
  readonly imagesPerSec: number;
  readonly p50Ms?: number;
  readonly p95Ms?: number;
  readonly p99Ms?: number;
  readonly ok: number;
  readonly status503: number;
  readonly otherErrors: number;
  /** CPU time (all threads) of the server, or of the library's process, per image analysed: overhead that machine load does not blur. */
  readonly cpuMsPerImage?: number;
  /** CPU of the load generator (this process) in cores: what it takes from the server on a shared machine. */
  readonly clientCores?: number;
  readonly note: string;
}
const cells: Cell[] = [];

function percentile(sorted: readonly number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU seconds of the whole process (every thread: ONNX Runtime's, libuv's) from /proc. */
function cpuSec(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime, fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const ownCpuSec = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** The library's own images/s and CPU ms per image on the same bytes: `concurrency` analyses in flight for `seconds`. */
async function libraryRate(bytes: Buffer, seconds: number): Promise<{ rate: number; cpuMsPerImage: number }> {
  const analyzer = await createAnalyzer({ store: { modelsDir: MODELS_DIR, allowDownload: false }, pixelLimit: 40_000_000 });
  try {
    for (let i = 0; i < 3; i++) await analyzer.analyze(bytes);
    let done = 0;
    const end = performance.now() + seconds * 1000;
    const t0 = performance.now();
    const cpu0 = ownCpuSec();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await analyzer.analyze(bytes);
          done++;
        }
      }),
    );
    return { rate: (done * 1000) / (performance.now() - t0), cpuMsPerImage: ((ownCpuSec() - cpu0) * 1000) / done };
  } finally {
    await analyzer.dispose();
  }
}

async function startServer(): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, ['bin/facesense.js', 'serve', '--port', '0', '--concurrency', String(concurrency), ...serverArgs, '--log-level', 'silent', '--data-dir', join(process.env.TMPDIR ?? '/tmp', `facesense-bench-${process.pid}`)], {
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
async function load(url: string, pid: number, body: Buffer, conns: number, by: { duration: number } | { amount: number }) {
  const latencies: number[] = [];
  let ok = 0;
  let s503 = 0;
  let other = 0;
  const t0 = performance.now();
  const [server0, client0] = [cpuSec(pid), ownCpuSec()];
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
  const [serverCpu, clientCpu] = [cpuSec(pid) - server0, ownCpuSec() - client0];
  latencies.sort((a, b) => a - b);
  return { ok, s503, other: other + result.errors + result.timeouts, seconds, cpuMsPerImage: ok > 0 ? (serverCpu * 1000) / ok : Number.NaN, clientCores: clientCpu / seconds, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) };
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
  const capacities: string[] = [];
  let capacity1 = 1;
  const cell = (bench: string, c: number, r: Awaited<ReturnType<typeof load>>, note: string): Cell => ({
    bench,
    connections: c,
    imagesPerSec: r.ok / r.seconds,
    p50Ms: r.p50,
    p95Ms: r.p95,
    p99Ms: r.p99,
    ok: r.ok,
    status503: r.s503,
    otherErrors: r.other,
    cpuMsPerImage: r.cpuMsPerImage,
    clientCores: r.clientCores,
    note,
  });
  try {
    // Warm up (first runs of ONNX Runtime sessions are slow) before RSS and throughput.
    await load(url, proc.pid!, images[1]!.bytes, 1, { amount: 20 });
    for (const img of images) {
      // Measured right before the image's HTTP cells, on the same machine load (the server idles meanwhile).
      await idle(url);
      const { rate: lib, cpuMsPerImage: libCpu } = await libraryRate(img.bytes, Math.min(duration, 10));
      cells.push({ bench: `library ${img.name}, ${concurrency} in flight`, imagesPerSec: lib, ok: 0, status503: 0, otherErrors: 0, cpuMsPerImage: libCpu, note: 'analyzer.analyze(bytes) in this process' });
      const sweep: { c: number; rate: number }[] = [];
      for (const c of SWEEP) {
        await idle(url);
        const r = await load(url, proc.pid!, img.bytes, c, { duration: Math.min(duration, 5) });
        sweep.push({ c, rate: r.ok / r.seconds });
      }
      const best = Math.max(...sweep.map((x) => x.rate));
      const capacity = sweep.find((x) => x.rate >= PLATEAU * best)!.c;
      if (img === images[1]) capacity1 = capacity;
      capacities.push(`${img.name}: capacity ${capacity} connections (sweep images/s ${sweep.map((x) => `${x.c}: ${x.rate.toFixed(1)}`).join(', ')})`);
      const counts = [...new Set([...connections, capacity])].sort((x, y) => x - y);
      for (const c of counts) {
        await idle(url);
        const r = await load(url, proc.pid!, img.bytes, c, { duration });
        cells.push(cell(`HTTP ${img.name}, ${c} connection(s)${c === capacity ? ' = capacity' : ''}`, c, r, `${((100 * r.ok) / r.seconds / lib).toFixed(0)}% of the library's rate${r.ok > 0 ? `; CPU per image ${((100 * r.cpuMsPerImage) / libCpu).toFixed(0)}% of the library's` : ''}`));
      }
    }
    await idle(url);
    const rss0 = rssMiB(proc.pid!);
    const over = await load(url, proc.pid!, images[1]!.bytes, 4 * capacity1, { duration });
    const rss1 = rssMiB(proc.pid!);
    cells.push(cell(`HTTP overload: ${4 * capacity1} connections = 4× capacity, ${images[1]!.name}`, 4 * capacity1, over, `RSS ${rss0.toFixed(0)} → ${rss1.toFixed(0)} MiB`));
    await idle(url);
    const before = rssMiB(proc.pid!);
    const n = await load(url, proc.pid!, images[1]!.bytes, capacity1, { amount: rssRequests });
    const afterN = rssMiB(proc.pid!);
    cells.push(cell(`HTTP RSS before/after ${rssRequests} requests at capacity (${capacity1} connections), ${images[1]!.name}`, capacity1, n, `RSS ${before.toFixed(0)} → ${afterN.toFixed(0)} MiB`));
    // Why the server said 503 (OVERLOADED: over the wait budget or the queue bound, or under-pressure; TIMEOUT: past the deadline).
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
  const lines = [`| bench | images/s | p50 ms | p95 ms | p99 ms | 2xx | 503 | other errors | CPU ms/image | load generator cores | note |`, `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|`];
  for (const c of cells) lines.push(`| ${c.bench} | ${f(c.imagesPerSec)} | ${f(c.p50Ms, 0)} | ${f(c.p95Ms, 0)} | ${f(c.p99Ms, 0)} | ${c.ok} | ${c.status503} | ${c.otherErrors} | ${f(c.cpuMsPerImage, 0)} | ${f(c.clientCores, 2)} | ${c.note} |`);
  const server = ['facesense serve --concurrency', String(concurrency), ...serverArgs].join(' ');
  process.stdout.write(
    `${lines.join('\n')}\n\n${duration} s per cell; server: ${server} (other limits at their defaults); Node ${process.version}; server errors by code: ${codes || 'none'}\n` +
      `Capacity = the fewest connections whose images/s reach ${PLATEAU * 100}% of the best of a sweep over ${SWEEP.join(', ')} connections (${Math.min(duration, 5)} s each):\n${capacities.map((c) => `- ${c}`).join('\n')}\n`,
  );
}

await main();
