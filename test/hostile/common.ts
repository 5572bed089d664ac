/**
 * What every channel of the hostile replay shares: the verdicts, the one-line summary, and the
 * watch on a child process (time limit and memory cap, RSS sampled from /proc).
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export type Verdict = 'typed' | 'graceful' | 'crashed' | 'hung' | 'lost' | 'silent';

export interface CaseResult {
  readonly id: string;
  readonly verdict: Verdict;
  readonly why?: string;
  readonly ms: number;
  readonly peakRssMb: number;
}

export async function rssMb(pid: number): Promise<number> {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) / 1024;
  } catch {
    return 0;
  }
}

export interface Watch {
  /** Highest RSS seen, MB. */
  peak(): number;
  /** The process went over the cap and was killed. */
  overMemory(): boolean;
  stop(): void;
}

/** Samples the process's RSS every 100 ms; over `memoryMb` it is killed (and counts as a crash). */
export function watchMemory(proc: ChildProcess, memoryMb: number): Watch {
  let peak = 0;
  let over = false;
  const sampler = setInterval(() => {
    if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    void rssMb(proc.pid).then((mb) => {
      peak = Math.max(peak, mb);
      if (mb > memoryMb && !over) {
        over = true;
        proc.kill('SIGKILL');
      }
    });
  }, 100);
  sampler.unref();
  return { peak: () => Math.round(peak), overMemory: () => over, stop: () => clearInterval(sampler) };
}

export function summaryLine(results: readonly CaseResult[]): string {
  const n = (v: Verdict) => results.filter((r) => r.verdict === v).length;
  return `${results.length} tried, ${n('typed')} typed, ${n('graceful')} graceful, ${n('crashed')} crashed, ${n('hung')} hung, ${n('lost')} lost`;
}

export function failed(results: readonly CaseResult[]): CaseResult[] {
  return results.filter((r) => r.verdict === 'crashed' || r.verdict === 'hung' || r.verdict === 'lost' || r.verdict === 'silent');
}

/** About `perGroup` items of each group, evenly spread over its list (deterministic); all when undefined. */
export function spread<T>(items: readonly T[], groupOf: (t: T) => string, perGroup: number | undefined): T[] {
  if (perGroup === undefined) return [...items];
  const byGroup = new Map<string, T[]>();
  for (const t of items) byGroup.set(groupOf(t), [...(byGroup.get(groupOf(t)) ?? []), t]);
  return [...byGroup.values()].flatMap((list) => {
    const step = Math.max(1, Math.ceil(list.length / perGroup));
    return list.filter((_, i) => i % step === 0);
  });
}
