import type { ModelOutput } from './models/manifest.js';

/** What one task yields for one face. */
export type TaskResult =
  | { readonly kind: 'class'; readonly label: string; readonly score: number; readonly scores: Readonly<Record<string, number>> }
  | { readonly kind: 'multilabel'; readonly scores: Readonly<Record<string, number>> }
  | { readonly kind: 'value'; readonly value: number; readonly scores?: Readonly<Record<string, number>> }
  | { readonly kind: 'values'; readonly values: Readonly<Record<string, number>> };

export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += out[i] = Math.exp(logits[i]! - max);
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function record(labels: readonly string[], values: ArrayLike<number>): Record<string, number> {
  const r: Record<string, number> = {};
  labels.forEach((l, i) => (r[l] = values[i]!));
  return r;
}

/**
 * Post-process stage: raw output row (already averaged over test-time augmentations, as logits)
 * → plain result per the manifest's decode rule.
 */
export function decodeOutput(out: ModelOutput, row: ArrayLike<number>): TaskResult {
  switch (out.decode) {
    case 'softmax': {
      const p = softmax(row);
      let best = 0;
      for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
      return { kind: 'class', label: out.labels[best]!, score: p[best]!, scores: record(out.labels, p) };
    }
    case 'sigmoid':
      return { kind: 'multilabel', scores: record(out.labels, Array.from(row, sigmoid)) };
    case 'expectation': {
      const p = softmax(row);
      const bins = out.binValues ?? [];
      let v = 0;
      for (let i = 0; i < p.length; i++) v += p[i]! * bins[i]!;
      return { kind: 'value', value: v, scores: record(out.labels, p) };
    }
    case 'identity':
      return row.length === 1 ? { kind: 'value', value: row[0]! } : { kind: 'values', values: record(out.labels, row) };
  }
}
