/** Progress of a long batch: rate over a recent window (so a resumed or slowing batch shows its current speed) and ETA. */
export interface ProgressSnapshot {
  readonly done: number;
  readonly total: number;
  /** Inputs per second over the last `windowSec` seconds. */
  readonly rate: number;
  /** Seconds left at that rate; undefined before there is a rate. */
  readonly etaSec: number | undefined;
}

export function createRateMeter(total: number, windowSec = 30, now: () => number = () => Date.now()) {
  const marks: [number, number][] = [[now(), 0]];
  let done = 0;
  return {
    tick(n = 1): void {
      done += n;
      const t = now();
      marks.push([t, done]);
      while (marks.length > 2 && t - marks[1]![0] > windowSec * 1000) marks.shift();
    },
    snapshot(): ProgressSnapshot {
      const [t0, d0] = marks[0]!;
      const secs = (now() - t0) / 1000;
      const rate = secs > 0 ? (done - d0) / secs : 0;
      return { done, total, rate, etaSec: rate > 0 ? (total - done) / rate : undefined };
    },
  };
}

export function formatProgress(label: string, p: ProgressSnapshot): string {
  const pct = p.total > 0 ? ` ${((100 * p.done) / p.total).toFixed(1)}%` : '';
  const eta = p.etaSec === undefined ? '' : ` eta ${formatDuration(p.etaSec)}`;
  return `${label} ${p.done}/${p.total}${pct} ${p.rate.toFixed(1)}/s${eta}`;
}

export function formatDuration(sec: number): string {
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
