/**
 * Serialisation of analysis results shared by every front end (the CLI, the jobs layer and the
 * HTTP service, the web app): a batch item as JSON, and CSV header, rows and line quoting.
 * Platform-free.
 */
import type { BatchItem, FaceResult } from './analyzer.js';
import type { TaskResult } from './postprocess.js';

export type OutputFormat = 'json' | 'jsonl' | 'csv' | 'table';

/** What the CSV carries beyond the compact default. */
export interface CsvOptions {
  /** One column per bin of value tasks (age: 101 one-year bins). @default false */
  readonly valueBins?: boolean;
}

/** A batch item as plain JSON: `{ok, source, widthPx, ..., faces}` or `{source, ok: false, error: {code, message}}`. */
export function itemToJson(item: BatchItem): Record<string, unknown> {
  return item.ok ? { ok: true, ...item.result } : { source: item.source, ok: false, error: item.error.toJSON() };
}

/**
 * JSON.stringify replacer that rounds what float noise would otherwise fill: pixel positions and
 * sizes to 0.1 px, angles to 0.01°, timings to 0.01 ms, years to 0.01, probabilities and other
 * values to 4 decimals (6 below 0.001, so small probabilities keep their size). Integers pass.
 */
export function roundingReplacer(key: string, value: unknown): unknown {
  if (typeof value !== 'number' || !Number.isFinite(value) || Number.isInteger(value)) return value;
  if (/Px$|^[xy]$|^width$|^height$/.test(key)) return round(value, 1);
  if (/Deg$|Ms$/.test(key) || key === 'value') return round(value, 2);
  return Math.abs(value) < 1e-3 ? round(value, 6) : round(value, 4);
}

function round(v: number, digits = 4): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

/** CSV columns for a given set of task → labels: one row per face (or per image without faces). */
export function csvHeader(tasks: readonly { task: string; labels: readonly string[]; kind?: string }[], options: CsvOptions = {}): string[] {
  const cols = ['source', 'status', 'error_code', 'error_message', 'width_px', 'height_px', 'face', 'x_px', 'y_px', 'w_px', 'h_px', 'score', 'roll_deg', 'eye_distance_px', 'yaw_deg', 'pitch_deg', 'reliable', 'unreliable_reasons', 'sharpness'];
  for (const n of ['right_eye', 'left_eye', 'nose', 'right_mouth', 'left_mouth']) cols.push(`${n}_x_px`, `${n}_y_px`);
  for (const { task, labels } of csvTasks(tasks, options)) {
    cols.push(`${task}_label`, `${task}_value`);
    for (const l of labels) cols.push(`${task}_${l}`);
  }
  return cols;
}

/** The tasks as the CSV shows them: a value task's bins (age's 101 one-year columns) only with `valueBins`. */
function csvTasks<T extends { task: string; labels: readonly string[]; kind?: string }>(tasks: readonly T[], options: CsvOptions): T[] {
  return tasks.map((t) => (t.kind === 'value' && options.valueBins !== true ? { ...t, labels: [] } : t));
}

function taskCells(r: TaskResult | undefined, labels: readonly string[]): (string | number)[] {
  if (r === undefined) return ['', '', ...labels.map(() => '')];
  switch (r.kind) {
    case 'class':
      return [r.label, round(r.score), ...labels.map((l) => round(r.scores[l] ?? Number.NaN))];
    case 'multilabel':
      return ['', '', ...labels.map((l) => round(r.scores[l] ?? Number.NaN))];
    case 'value': {
      // The label of a banded value names its band in each scheme, e.g. "paper000:23-27 fairface:20-29".
      const bands = Object.entries(r.bands ?? {}).map(([scheme, b]) => `${scheme}:${b.label}`).join(' ');
      return [bands, round(r.value), ...labels.map((l) => (r.scores?.[l] === undefined ? '' : round(r.scores[l])))];
    }
    case 'values':
      return ['', '', ...labels.map((l) => round(r.values[l] ?? Number.NaN))];
  }
}

function faceCells(f: FaceResult, i: number): (string | number)[] {
  const b = f.boxPx;
  const lm = f.landmarksPx;
  const pts = lm === undefined ? Array(10).fill('') : [lm.rightEye, lm.leftEye, lm.nose, lm.rightMouth, lm.leftMouth].flatMap((p) => [round(p.x, 1), round(p.y, 1)]);
  return [i, round(b.x, 1), round(b.y, 1), round(b.width, 1), round(b.height, 1), round(f.score), round(f.alignment.rollDeg, 2), Number.isNaN(f.alignment.eyeDistancePx) ? '' : round(f.alignment.eyeDistancePx, 1), f.pose === undefined ? '' : round(f.pose.yawDeg, 1), f.pose === undefined ? '' : round(f.pose.pitchDeg, 1), ...qualityCells(f), ...pts];
}

/** `reliable` (1/0, empty without landmarks), the reasons joined by `;`, and the sharpness. */
function qualityCells(f: FaceResult): (string | number)[] {
  const q = f.quality;
  return q === undefined ? ['', '', ''] : [q.reliable ? 1 : 0, q.reasons.join(';'), round(q.sharpness, 1)];
}

export function csvRows(item: BatchItem, allTasks: readonly { task: string; labels: readonly string[]; kind?: string }[], options: CsvOptions = {}): (string | number)[][] {
  const tasks = csvTasks(allTasks, options);
  const width = csvHeader(tasks).length;
  if (!item.ok) {
    const row: (string | number)[] = [item.source, 'error', item.error.code, item.error.message];
    return [row.concat(Array(width - row.length).fill(''))];
  }
  const { result } = item;
  const head = [item.source, 'ok', '', '', result.widthPx, result.heightPx];
  if (result.faces.length === 0) return [head.concat(Array(width - head.length).fill(''))];
  return result.faces.map((f, i) => {
    const row = [...head, ...faceCells(f, i), ...tasks.flatMap(({ task, labels }) => taskCells(f.attributes[task], labels))];
    if (f.skipped !== undefined) {
      row[1] = 'face_skipped';
      row[2] = f.skipped.code;
      row[3] = f.skipped.message;
    }
    return row;
  });
}

/** RFC 4180 quoting. */
export function csvLine(cells: readonly (string | number)[]): string {
  return cells.map((c) => (typeof c === 'number' ? (Number.isFinite(c) ? String(c) : '') : /[",\n\r]/.test(c) ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
}
