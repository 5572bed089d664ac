/**
 * Replays the hostile corpus (corpus.ts): every case in its own process with a time limit and a
 * memory cap (RSS sampled from /proc; over the cap the process is killed and counts as a crash).
 * Prints one line — `N tried, N typed, N graceful, N crashed, N hung, N lost` — plus `N silent`
 * (a case that must end in a typed error ended quietly) and one line per failed case; exits 1 on
 * any crash, hang, loss or silent case.
 *
 *   node dist/test/hostile/replay.js [--channel cli|serve|workers|all]... [--filter SUBSTRING] [--per-area N] [--timeout-ms N] [--memory-mb N] [--jobs N] [--verbose]
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildCorpus, type HostileCase } from './corpus.js';
import { serveChannel } from './serve.js';
import { workersChannel } from './workers.js';
import { failed, spread, summaryLine, watchMemory, type CaseResult, type Verdict } from './common.js';

export { failed, summaryLine, type CaseResult, type Verdict };


export interface ReplayOptions {
  readonly timeoutMs: number;
  readonly memoryMb: number;
  readonly jobs: number;
  readonly filter?: string;
  /** Keep about this many cases per area, spread over its list (a quicker CI run). @default all */
  readonly perArea?: number;
  readonly root: string;
  readonly media: string;
  readonly onResult?: (r: CaseResult) => void;
  /** Which ways in: the CLI and library processes, the HTTP service, the workers. @default ['cli'] */
  readonly channels?: readonly Channel[];
}

export type Channel = 'cli' | 'serve' | 'workers';
export const CHANNELS: readonly Channel[] = ['cli', 'serve', 'workers'];

interface RunOut {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
  readonly overMemory: boolean;
  readonly peakRssMb: number;
}


function runCase(c: HostileCase, o: ReplayOptions): Promise<RunOut> {
  return new Promise((done) => {
    const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0' };
    delete env.NODE_TEST_CONTEXT; // a case is a plain process, not a test file
    const [cmd, ...args] = [...(c.wrap ?? []), process.execPath, ...c.argv] as [string, ...string[]];
    const proc = spawn(cmd, args, { cwd: o.root, stdio: ['ignore', 'pipe', 'pipe'], env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    proc.stdout.on('data', (b: Buffer) => (outBytes += b.length) < 8e6 && out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, c.timeoutMs ?? o.timeoutMs);
    const memory = watchMemory(proc, o.memoryMb);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      memory.stop();
      done({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8').slice(-20000), timedOut, overMemory: memory.overMemory(), peakRssMb: memory.peak() });
    });
  });
}

/** A JS stack frame or a Node crash banner in stderr: the process died of an untyped error. */
const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$|Unhandled|uncaught|FATAL ERROR|Segmentation fault|Aborted \(core dumped\)/im;

interface Parsed {
  okSources: Set<string>;
  typedCount: number;
  untyped: string[];
}

/** CLI jsonl records, or a scenario's summary line. */
function parseOutput(stdout: string): Parsed {
  const p: Parsed = { okSources: new Set(), typedCount: 0, untyped: [] };
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    if (Array.isArray(v.ok)) {
      for (const s of v.ok as string[]) p.okSources.add(s);
      p.typedCount += (v.typed as unknown[]).length;
      p.untyped.push(...(v.untyped as string[]));
    } else if (v.ok === true && typeof v.source === 'string') p.okSources.add(v.source);
    else if (v.ok === false && typeof (v.error as { code?: unknown } | undefined)?.code === 'string') p.typedCount++;
  }
  return p;
}

export function judge(c: HostileCase, r: RunOut): { verdict: Verdict; why?: string } {
  if (r.timedOut) return { verdict: 'hung', why: `no exit within ${c.timeoutMs ?? 'the limit'} ms` };
  if (r.overMemory) return { verdict: 'crashed', why: `RSS over the memory cap (peak ${r.peakRssMb} MB)` };
  if (r.signal !== null) return { verdict: 'crashed', why: `killed by ${r.signal}` };
  if (r.code === null || r.code > 2) return { verdict: 'crashed', why: `exit code ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  const stack = STACK.exec(r.stderr);
  if (stack !== null) return { verdict: 'crashed', why: `untyped error on stderr: ${r.stderr.trim().split('\n').slice(0, 2).join(' | ')}` };
  const p = parseOutput(r.stdout);
  if (p.untyped.length > 0) return { verdict: 'crashed', why: `untyped errors: ${p.untyped.join('; ')}` };
  const lost = (c.good ?? []).filter((g) => !p.okSources.has(g));
  if (lost.length > 0) return { verdict: 'lost', why: `no result for ${lost.join(', ')}` };
  const problem = c.check?.(r);
  const typedOnStderr = /\[[A-Z][A-Z_]+\]/.test(r.stderr) || (r.code === 2 && r.stderr.trim() !== '');
  const typed = p.typedCount > 0 || typedOnStderr;
  if (problem !== undefined) return { verdict: 'silent', why: problem };
  if (c.expectTyped === true && !typed) return { verdict: 'silent', why: `expected a typed error, got exit ${r.code} without one` };
  return { verdict: typed ? 'typed' : 'graceful' };
}

export interface ChannelReport {
  readonly channel: Channel;
  readonly results: CaseResult[];
  readonly line: string;
}

export async function replay(o: ReplayOptions): Promise<{ results: CaseResult[]; line: string; channels: ChannelReport[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'facesense-hostile-'));
  try {
    const corpus = await buildCorpus(dir, { root: o.root, media: o.media });
    const reports: ChannelReport[] = [];
    for (const channel of o.channels ?? ['cli']) {
      const channelOptions = { dir, root: o.root, timeoutMs: o.timeoutMs, memoryMb: o.memoryMb, ...(o.perArea === undefined ? {} : { perGroup: o.perArea }), ...(o.filter === undefined ? {} : { filter: o.filter }), ...(o.onResult === undefined ? {} : { onResult: o.onResult }) };
      const results = channel === 'cli' ? await replayCli(corpus, o) : channel === 'serve' ? await serveChannel(channelOptions) : await workersChannel(channelOptions);
      reports.push({ channel, results, line: summaryLine(results) });
    }
    const results = reports.flatMap((r) => r.results);
    return { results, line: summaryLine(results), channels: reports };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The CLI, library, video, dataset, manifest and option cases: one process each, `jobs` at a time. */
async function replayCli(corpus: readonly HostileCase[], o: ReplayOptions): Promise<CaseResult[]> {
  const cases = spread(corpus.filter((c) => o.filter === undefined || c.id.includes(o.filter)), (c) => c.area, o.perArea);
  const results: CaseResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++]!;
      const t0 = Date.now();
      const r = await runCase(c, o);
      const v = judge({ ...c, timeoutMs: c.timeoutMs ?? o.timeoutMs }, r);
      const res: CaseResult = { id: c.id, ...v, ms: Date.now() - t0, peakRssMb: r.peakRssMb };
      results.push(res);
      o.onResult?.(res);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      filter: { type: 'string' },
      'timeout-ms': { type: 'string', default: '60000' },
      'memory-mb': { type: 'string', default: '1500' },
      jobs: { type: 'string', default: '2' },
      'per-area': { type: 'string' },
      verbose: { type: 'boolean', default: false },
      channel: { type: 'string', multiple: true },
    },
  });
  const channels = (values.channel ?? ['all']).flatMap((c) => (c === 'all' ? [...CHANNELS] : c.split(','))) as Channel[];
  for (const c of channels) if (!CHANNELS.includes(c)) throw new Error(`--channel must be ${CHANNELS.join(', ')} or all (got ${c})`);
  const root = process.cwd();
  const { results, channels: reports } = await replay({
    channels,
    root,
    media: resolve(root, '..', 'shared', 'media'),
    timeoutMs: Number(values['timeout-ms']),
    memoryMb: Number(values['memory-mb']),
    jobs: Number(values.jobs),
    ...(values.filter === undefined ? {} : { filter: values.filter }),
    ...(values['per-area'] === undefined ? {} : { perArea: Number(values['per-area']) }),
    onResult: (r) => {
      if (values.verbose || !['typed', 'graceful'].includes(r.verdict)) process.stderr.write(`${r.verdict.padEnd(8)} ${r.id} (${r.ms} ms, ${r.peakRssMb} MB)${r.why === undefined ? '' : `: ${r.why}`}\n`);
    },
  });
  const bad = failed(results);
  for (const r of reports) process.stdout.write(`${r.channel}: ${r.line}, ${r.results.filter((x) => x.verdict === 'silent').length} silent\n`);
  process.stdout.write(`peak RSS ${Math.max(...results.map((r) => r.peakRssMb))} MB, slowest ${results.reduce((a, b) => (b.ms > a.ms ? b : a)).id} ${Math.max(...results.map((r) => r.ms))} ms\n`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}

// `node --test dist/test/` runs every file under it: only a direct run replays the whole corpus
// (hostile.test.ts replays a sample inside the test run).
if (process.env.NODE_TEST_CONTEXT === undefined && process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) await main();
