/**
 * Per-stage breakdown rows for `npm run bench`: the median of each stage's milliseconds over many
 * results' `timings` (decode, detect, align, normalise, infer, post-process), so a change is judged
 * by the stage it touches. Medians per stage do not add up exactly to the median total.
 */
import type { StageTimings } from '../src/core/analyzer.js';

export interface StageRow { bench: string; value: number; unit: string; note: string }

const STAGES = [
  ['decode', 'decodeMs'],
  ['detect', 'detectMs'],
  ['align', 'alignMs'],
  ['normalise', 'normaliseMs'],
  ['infer', 'inferMs'],
  ['post', 'postprocessMs'],
] as const;

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)]!;
}

/** Median of each stage; `per` divides every figure (e.g. faces per batch → ms per face). */
export function stageMedians(timings: readonly StageTimings[], per = 1): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, key] of STAGES) out[name] = median(timings.map((t) => t[key] ?? 0)) / per;
  out.total = median(timings.map((t) => t.totalMs)) / per;
  return out;
}

/** One row: value = median total ms; note = each stage's median ms and share of the summed stages. */
export function stageRow(bench: string, timings: readonly StageTimings[], per = 1, unit = 'ms/image'): StageRow {
  const m = stageMedians(timings, per);
  const sum = STAGES.reduce((a, [name]) => a + m[name]!, 0);
  const note = STAGES.map(([name]) => `${name} ${fmt(m[name]!)} (${Math.round((100 * m[name]!) / sum)}%)`).join(' · ');
  return { bench: `stages: ${bench}`, value: m.total!, unit, note: `${note}; n=${timings.length}` };
}

function fmt(ms: number): string {
  return ms >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}
