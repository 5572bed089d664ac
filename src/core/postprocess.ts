import type { ModelOutput, ValueBands } from './models/manifest.js';

/**
 * A value's band (manifest `bands`): the band holding the value and, for expectation outputs, the
 * probability mass of every band (the bins' probabilities summed by band) and of the one reported.
 */
export interface BandResult {
  readonly label: string;
  readonly score?: number;
  readonly scores?: Readonly<Record<string, number>>;
}

/** What one task yields for one face. */
export type TaskResult =
  | { readonly kind: 'class'; readonly label: string; readonly score: number; readonly scores: Readonly<Record<string, number>> }
  | { readonly kind: 'multilabel'; readonly scores: Readonly<Record<string, number>> }
  | {
      readonly kind: 'value';
      readonly value: number;
      readonly scores?: Readonly<Record<string, number>>;
      /** By band name, e.g. `{ paper000: { label: '28-32', ... }, fairface: { label: '30-39', ... } }`. */
      readonly bands?: Readonly<Record<string, BandResult>>;
    }
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

/** Index of the band holding `value` rounded to a whole unit (see ValueBands). */
export function bandIndex(value: number, starts: readonly number[]): number {
  const v = Math.round(value);
  let i = 0;
  for (let k = 1; k < starts.length; k++) if (v >= starts[k]!) i = k;
  return i;
}

/** Bands of a value; with bin probabilities also each band's mass. */
export function valueBands(bands: readonly ValueBands[], value: number, bins?: { readonly values: readonly number[]; readonly p: ArrayLike<number> }): Record<string, BandResult> {
  const out: Record<string, BandResult> = {};
  for (const b of bands) {
    const i = bandIndex(value, b.starts);
    if (bins === undefined) {
      out[b.name] = { label: b.labels[i]! };
      continue;
    }
    const mass = new Float64Array(b.labels.length);
    bins.values.forEach((v, j) => (mass[bandIndex(v, b.starts)]! += bins.p[j]!));
    out[b.name] = { label: b.labels[i]!, score: mass[i]!, scores: record(b.labels, mass) };
  }
  return out;
}

/** The kind of result an output decodes to (what `decodeOutput` returns for it). */
export function resultKind(out: Pick<ModelOutput, 'decode' | 'labels'>): TaskResult['kind'] {
  switch (out.decode) {
    case 'softmax':
      return 'class';
    case 'sigmoid':
      return 'multilabel';
    case 'expectation':
      return 'value';
    case 'identity':
      return out.labels.length === 1 ? 'value' : 'values';
  }
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
      const bands = out.bands === undefined || out.bands.length === 0 ? {} : { bands: valueBands(out.bands, v, { values: bins, p }) };
      return { kind: 'value', value: v, scores: record(out.labels, p), ...bands };
    }
    case 'identity': {
      if (row.length !== 1) return { kind: 'values', values: record(out.labels, row) };
      const bands = out.bands === undefined || out.bands.length === 0 ? {} : { bands: valueBands(out.bands, row[0]!) };
      return { kind: 'value', value: row[0]!, ...bands };
    }
  }
}
