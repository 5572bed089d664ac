/**
 * The hostile corpus through the distributed workers and the local batch runner. One list mixes
 * good photos, the corpus's hostile files and videos, and files swapped for a FIFO, a link to
 * /dev/zero or nothing after submission (the worker meets them, not the submitter):
 * - `batch submit` to a redis-server started here, one real `facesense worker` (memory cap):
 *   every input ends with exactly one result record or one dead-lettered job with its typed code;
 *   the worker never dies;
 * - `batch run --workers 2` (local child processes) with the same list: one record per input.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { cli, CLI_ENV } from '../helpers/cli.js';
import { createRedis } from '../helpers/engines.js';
import { spread, watchMemory, type CaseResult, type Verdict } from './common.js';
import { BATCH_IMAGES, TYPED_IMAGES, TYPED_VIDEOS, VALID_IMAGES } from './corpus.js';
import type { ChannelOptions } from './serve.js';

type Judged = { verdict: Verdict; why?: string };

interface Input {
  readonly path: string;
  readonly kind: 'good' | 'valid' | 'hostile' | 'video' | 'good-video';
}

interface RecordLine {
  source: string;
  ok: boolean;
  faces?: unknown[];
  error?: { code?: string; message?: string };
}

/** Codes that mean the software, not the input, failed. */
const UNTYPED = new Set(['TRANSIENT', 'INTERNAL', 'WORKER_CRASHED']);

async function regular(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** The mixed list: the corpus's own files (corpus.ts lists), with about `perGroup` hostile images when sampling. */
async function mixedInputs(o: ChannelOptions, work: string): Promise<{ inputs: Input[]; swaps: () => Promise<void> }> {
  const f = (n: string) => join(o.dir, n);
  const inputs: Input[] = [{ path: f('good.jpg'), kind: 'good' }];
  const names = spread([...new Set([...TYPED_IMAGES, ...BATCH_IMAGES])], () => 'images', o.perGroup === undefined ? undefined : o.perGroup * 2);
  for (const n of names) if (await regular(f(n))) inputs.push({ path: f(n), kind: VALID_IMAGES.has(n) ? 'valid' : 'hostile' });
  // Swapped after submission: the worker, not the submitter, meets the FIFO, the endless device and the missing file.
  const swapped = ['swap-fifo.jpg', 'swap-zero.jpg', 'swap-gone.jpg'].map((n) => join(work, n));
  for (const p of swapped) {
    await copyFile(f('good.jpg'), p);
    inputs.push({ path: p, kind: 'hostile' });
  }
  inputs.push({ path: f('good2.jpg'), kind: 'good' });
  const videos = o.perGroup === undefined ? TYPED_VIDEOS : TYPED_VIDEOS.slice(0, 2);
  for (const n of videos) if ((await regular(f(n))) && n.endsWith('.mp4')) inputs.push({ path: f(n), kind: 'video' });
  inputs.push({ path: f('-x.mp4'), kind: 'good-video' });
  return {
    inputs: inputs.map((i) => ({ ...i, path: resolve(i.path) })),
    async swaps() {
      const [fifo, zero, gone] = swapped as [string, string, string];
      await unlink(fifo);
      execFileSync('mkfifo', [fifo]);
      await unlink(zero);
      await symlink('/dev/zero', zero);
      await unlink(gone);
    },
  };
}

/** One input's verdict from its records and dead-lettered jobs. */
function judgeInput(i: Input, records: readonly RecordLine[], dead: readonly { code: string; message: string }[], videoDone: boolean): Judged {
  if (i.kind === 'video' || i.kind === 'good-video') {
    if (dead.length > 1) return { verdict: 'lost', why: `${dead.length} dead-lettered jobs` };
    const d = dead[0];
    if (d !== undefined && UNTYPED.has(d.code)) return { verdict: 'crashed', why: `dead-lettered as ${d.code}: ${d.message}` };
    if (i.kind === 'good-video') return d === undefined && videoDone ? { verdict: 'graceful' } : { verdict: 'lost', why: d === undefined ? 'the valid video did not finish' : `the valid video failed: ${d.code}` };
    return d === undefined ? { verdict: 'silent', why: 'a hostile video was not dead-lettered with a code' } : { verdict: 'typed' };
  }
  if (records.length > 1) return { verdict: 'lost', why: `${records.length} records for one input` };
  const r = records[0];
  if (r === undefined) {
    if (dead.length === 1 && !UNTYPED.has(dead[0]!.code)) return { verdict: 'typed' };
    return { verdict: dead.length === 0 ? 'lost' : 'crashed', why: dead.length === 0 ? 'no record and no dead-lettered job' : `dead-lettered as ${dead.map((d) => d.code).join(', ')}` };
  }
  if (r.ok) {
    if (i.kind === 'good' && !(Array.isArray(r.faces) && r.faces.length > 0)) return { verdict: 'lost', why: 'the good photo has no face' };
    return i.kind === 'hostile' ? { verdict: 'silent', why: 'a result where a typed error was due' } : { verdict: 'graceful' };
  }
  const code = r.error?.code;
  if (code === undefined || UNTYPED.has(code)) return { verdict: 'crashed', why: `untyped error record: ${JSON.stringify(r.error)}` };
  if (dead.some((d) => UNTYPED.has(d.code))) return { verdict: 'crashed', why: `dead-lettered as ${dead.map((d) => d.code).join(', ')}` };
  return i.kind === 'hostile' ? { verdict: 'typed' } : { verdict: 'lost', why: `${i.kind} input failed: ${code} ${r.error?.message ?? ''}` };
}

const STACK = /^\s+at .+:\d+:\d+\)?$|Unhandled|uncaught|FATAL ERROR/m;

export async function workersChannel(o: ChannelOptions): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const push = (id: string, t0: number, j: Judged, peak = 0) => {
    if (o.filter !== undefined && !id.includes(o.filter)) return;
    const r: CaseResult = { id, ...j, ms: Date.now() - t0, peakRssMb: peak };
    results.push(r);
    o.onResult?.(r);
  };
  const name = (p: string) => p.slice(resolve(o.dir).length + 1);
  if (o.filter === undefined || o.filter.startsWith('workers-queue')) await viaQueue(o, push, name);
  if (o.filter === undefined || o.filter.startsWith('workers-run')) await viaBatchRun(o, push, name);
  return results;
}

function specialFiles(o: ChannelOptions): Input[] {
  return [...['fifo.jpg', 'socket.jpg'].map((n) => ({ path: resolve(join(o.dir, n)), kind: 'hostile' as const })), { path: '/dev/zero', kind: 'hostile' as const }];
}

type Push = (id: string, t0: number, j: Judged, peak?: number) => void;

async function viaQueue(o: ChannelOptions, push: Push, name: (p: string) => string): Promise<void> {
  const work = join(o.dir, 'workers-queue');
  await mkdir(work, { recursive: true });
  const mixed = await mixedInputs(o, work);
  const { swaps } = mixed;
  // Special files named in the list: the submitter queues paths, the worker must refuse them typed.
  const inputs = [...mixed.inputs, ...specialFiles(o)];
  const list = join(work, 'list.txt');
  await writeFile(list, inputs.map((i) => i.path).join('\n') + '\n');
  const t0 = Date.now();
  const redis = await createRedis();
  const r = new Redis(redis.url, { maxRetriesPerRequest: null });
  r.on('error', () => undefined);
  const worker = spawn(process.execPath, [join(o.root, 'bin', 'facesense.js'), 'worker', '--redis', redis.url, '--lock-ms', '5000', '--threads', '1'], { env: CLI_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  worker.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const memory = watchMemory(worker, o.memoryMb);
  try {
    const sub = await cli(['batch', 'submit', list, '--redis', redis.url, '--out', join(work, 'out'), '--batch', 'h1', '--tasks', 'emotion', '--fps', '2']);
    if (sub.code !== 0 || STACK.test(sub.stderr)) {
      push('workers-queue:submit', t0, { verdict: sub.code === 2 || sub.code === 1 ? 'lost' : 'crashed', why: `batch submit exit ${sub.code}: ${sub.stderr.slice(-400)}` });
      return;
    }
    await swaps();
    const deadline = Date.now() + Math.max(o.timeoutMs * 4, 240_000);
    let pending = -1;
    while (Date.now() < deadline && worker.exitCode === null && worker.signalCode === null) {
      const jobs = (JSON.parse((await r.hget('facesense:batch:h1', 'meta')) ?? '{}') as { jobs?: number }).jobs ?? Number.NaN;
      const finished = (await r.scard('facesense:batch:h1:done')) + (await r.hlen('facesense:batch:h1:failed'));
      pending = jobs - finished;
      if (pending === 0) break;
      await new Promise((res) => setTimeout(res, 300));
    }
    const res = await cli(['batch', 'results', 'h1', '--redis', redis.url, '--format', 'jsonl']);
    const records = res.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RecordLine);
    const failed = Object.values(await r.hgetall('facesense:batch:h1:failed')).map((v) => JSON.parse(v) as { code: string; message: string; source?: string });
    for (const i of inputs) {
      const t = Date.now();
      const j: Judged = pending > 0 && !failed.some((d) => d.source === i.path) && !records.some((x) => x.source === i.path) ? { verdict: 'hung', why: `${pending} job(s) still pending` } : judgeInput(i, records.filter((x) => x.source === i.path), failed.filter((d) => d.source === i.path), pending === 0);
      push(`workers-queue:${i.path === '/dev/zero' ? i.path : name(i.path)}`, t, j.verdict === 'lost' || j.verdict === 'hung' ? { ...j, why: `${j.why ?? ''}; worker log: ${log.join('').slice(-600)}` } : j, memory.peak());
    }
    const alive = worker.exitCode === null && worker.signalCode === null;
    push('workers-queue:worker-alive', t0, memory.overMemory() ? { verdict: 'crashed', why: `worker RSS over the cap (peak ${memory.peak()} MB)` } : alive && !STACK.test(log.join('')) ? { verdict: 'graceful' } : { verdict: 'crashed', why: `worker exit ${worker.exitCode ?? worker.signalCode}: ${log.join('').slice(-400)}` }, memory.peak());
  } finally {
    memory.stop();
    if (worker.exitCode === null && worker.signalCode === null) {
      const exited = new Promise((res) => worker.once('exit', res));
      worker.kill('SIGTERM');
      const t = setTimeout(() => worker.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    r.disconnect();
    await redis.dispose();
  }
}

async function viaBatchRun(o: ChannelOptions, push: Push, name: (p: string) => string): Promise<void> {
  const work = join(o.dir, 'workers-run');
  await mkdir(work, { recursive: true });
  const { inputs, swaps } = await mixedInputs(o, work);
  await swaps();
  // Local batches are images only: the videos stay with the queue; the special files are named directly.
  const images = [...inputs.filter((i) => i.kind !== 'video' && i.kind !== 'good-video'), ...specialFiles(o)];
  const list = join(work, 'list.txt');
  await writeFile(list, images.map((i) => i.path).join('\n') + '\n');
  const out = join(work, 'out');
  const t0 = Date.now();
  const proc = spawn(process.execPath, [join(o.root, 'bin', 'facesense.js'), 'batch', 'run', list, '--out', out, '--workers', '2', '--threads', '1', '--tasks', 'emotion'], { env: CLI_ENV, stdio: ['ignore', 'ignore', 'pipe'] });
  const log: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  const memory = watchMemory(proc, o.memoryMb);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, Math.max(o.timeoutMs * 4, 240_000));
  const code = await new Promise<number | null>((res) => proc.once('close', (c) => res(c)));
  clearTimeout(timer);
  memory.stop();
  const text = await readFile(join(out, 'results.jsonl'), 'utf8').catch(() => '');
  const records = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RecordLine);
  for (const i of images) push(`workers-run:${i.path === '/dev/zero' ? i.path : name(i.path)}`, t0, timedOut ? { verdict: 'hung', why: 'batch run did not finish' } : judgeInput(i, records.filter((x) => x.source === i.path), [], true), memory.peak());
  const stderr = log.join('');
  push('workers-run:process', t0, memory.overMemory() ? { verdict: 'crashed', why: `RSS over the cap (peak ${memory.peak()} MB)` } : timedOut ? { verdict: 'hung', why: 'no exit in time' } : code !== null && code <= 1 && !STACK.test(stderr) ? { verdict: 'graceful' } : { verdict: 'crashed', why: `exit ${code}: ${stderr.slice(-400)}` }, memory.peak());
}
