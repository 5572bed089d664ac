/**
 * Per-track temporal smoothing of task results. Every number of a result is smoothed (class
 * probabilities, multilabel scores, values); a class task's label is then the arg-max of the
 * smoothed probabilities. A value's `bands` are not carried into the smoothed result (they are
 * the raw value's; re-banding needs the manifest). Pure: the state is a plain value and
 * `smoothStep` returns the next one.
 */
import { OptionError } from '../errors.js';
import type { TaskResult } from '../postprocess.js';

export type SmoothingSpec =
  /** Exponential moving average: s ← alpha·x + (1 − alpha)·s; alpha 1 is no smoothing. */
  | { readonly kind: 'ema'; readonly alpha: number }
  /** Mean of the last `size` observations of the track (fewer at its start). */
  | { readonly kind: 'window'; readonly size: number }
  | { readonly kind: 'none' };

/** @default ema with alpha 0.3: at 30 samples/s a change is 90% through after ~0.2 s (6 samples). */
export const DEFAULT_SMOOTHING: SmoothingSpec = Object.freeze({ kind: 'ema', alpha: 0.3 });

/** Parses `ema:0.3`, `window:5` or `none`. */
export function parseSmoothing(text: string): SmoothingSpec {
  const [kind, arg] = text.split(':');
  const n = Number(arg);
  if (kind === 'none' && arg === undefined) return { kind: 'none' };
  if (kind === 'ema' && arg !== undefined && n > 0 && n <= 1) return { kind: 'ema', alpha: n };
  if (kind === 'window' && arg !== undefined && Number.isInteger(n) && n >= 1) return { kind: 'window', size: n };
  throw new OptionError(`smoothing must be ema:ALPHA with 0 < ALPHA ≤ 1, window:N with N ≥ 1, or none (got "${text}")`);
}

export function formatSmoothing(s: SmoothingSpec): string {
  return s.kind === 'ema' ? `ema:${s.alpha}` : s.kind === 'window' ? `window:${s.size}` : 'none';
}

/** Per task: the EMA vector, or the window's recent vectors (oldest first). */
export type SmootherState = Readonly<Record<string, readonly (readonly number[])[]>>;

/** The numbers of a result in a fixed order; `fromVector` puts them back. */
function toVector(r: TaskResult): number[] {
  switch (r.kind) {
    case 'class':
    case 'multilabel':
      return Object.values(r.scores);
    case 'value':
      return [r.value, ...Object.values(r.scores ?? {})];
    case 'values':
      return Object.values(r.values);
  }
}

function zip(keys: readonly string[], v: readonly number[], from = 0): Record<string, number> {
  const o: Record<string, number> = {};
  keys.forEach((k, i) => (o[k] = v[from + i]!));
  return o;
}

function fromVector(r: TaskResult, v: readonly number[]): TaskResult {
  switch (r.kind) {
    case 'class': {
      const scores = zip(Object.keys(r.scores), v);
      let label = r.label;
      for (const [k, s] of Object.entries(scores)) if (s > scores[label]!) label = k;
      return { kind: 'class', label, score: scores[label]!, scores };
    }
    case 'multilabel':
      return { kind: 'multilabel', scores: zip(Object.keys(r.scores), v) };
    case 'value':
      return r.scores === undefined ? { kind: 'value', value: v[0]! } : { kind: 'value', value: v[0]!, scores: zip(Object.keys(r.scores), v, 1) };
    case 'values':
      return { kind: 'values', values: zip(Object.keys(r.values), v) };
  }
}

/**
 * Adds one observation of a track's results. Tasks absent from `attributes` (a face too small to
 * classify) leave their state as it was and are absent from `smoothed`.
 */
export function smoothStep(
  spec: SmoothingSpec,
  state: SmootherState | undefined,
  attributes: Readonly<Record<string, TaskResult>>,
): { state: SmootherState; smoothed: Record<string, TaskResult> } {
  const next: Record<string, readonly (readonly number[])[]> = { ...state };
  const smoothed: Record<string, TaskResult> = {};
  for (const [task, r] of Object.entries(attributes)) {
    const x = toVector(r);
    const prev = state?.[task];
    let out: readonly number[];
    if (spec.kind === 'none' || prev === undefined || prev.length === 0 || prev[0]!.length !== x.length) {
      out = x;
      next[task] = [x];
    } else if (spec.kind === 'ema') {
      const s = prev[0]!;
      out = x.map((xi, i) => spec.alpha * xi + (1 - spec.alpha) * s[i]!);
      next[task] = [out];
    } else {
      const win = [...prev, x].slice(-spec.size);
      out = x.map((_, i) => win.reduce((a, w) => a + w[i]!, 0) / win.length);
      next[task] = win;
    }
    smoothed[task] = fromVector(r, out);
  }
  return { state: next, smoothed };
}
