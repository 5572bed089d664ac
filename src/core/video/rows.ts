/**
 * Per-frame output rows of `facesense video`: one per tracked face per sampled frame (frames
 * without faces give no row), as CSV or JSONL, with every task's raw and smoothed scores.
 */
import { roundingReplacer } from '../format.js';
import type { TaskResult } from '../postprocess.js';
import type { FrameResult, TrackedFace } from './stream.js';

export type TaskColumns = readonly { readonly task: string; readonly labels: readonly string[] }[];

function round(v: number, digits = 4): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

export function videoCsvHeader(tasks: TaskColumns): string[] {
  const cols = ['frame', 'time_ms', 'track', 'detected', 'status', 'x_px', 'y_px', 'w_px', 'h_px', 'score'];
  for (const kind of ['', 'smoothed_']) {
    for (const { task, labels } of tasks) {
      cols.push(`${task}_${kind}label`, `${task}_${kind}value`);
      for (const l of labels) cols.push(`${task}_${kind}${l}`);
    }
  }
  cols.push('reliable', 'unreliable_reasons');
  return cols;
}

/** label, value, then one cell per label; blanks where the task has no such number. */
function taskCells(r: TaskResult | undefined, labels: readonly string[]): (string | number)[] {
  if (r === undefined) return ['', '', ...labels.map(() => '')];
  const per = (m: Readonly<Record<string, number>> | undefined) => labels.map((l) => (m?.[l] === undefined ? '' : round(m[l])));
  switch (r.kind) {
    case 'class':
      return [r.label, round(r.score), ...per(r.scores)];
    case 'multilabel':
      return ['', '', ...per(r.scores)];
    case 'value':
      return ['', round(r.value), ...per(r.scores)];
    case 'values':
      return ['', '', ...per(r.values)];
  }
}

export function videoCsvRow(frame: FrameResult, f: TrackedFace, tasks: TaskColumns): (string | number)[] {
  const b = f.boxPx;
  return [
    frame.frameIndex,
    round(frame.timestampMs, 1),
    f.trackId,
    f.detected ? 1 : 0,
    f.skipped === undefined ? 'ok' : 'face_skipped',
    round(b.x, 1),
    round(b.y, 1),
    round(b.width, 1),
    round(b.height, 1),
    round(f.score),
    ...tasks.flatMap(({ task, labels }) => taskCells(f.attributes[task], labels)),
    ...tasks.flatMap(({ task, labels }) => taskCells(f.smoothed[task], labels)),
    f.quality === undefined ? '' : f.quality.reliable ? 1 : 0,
    f.quality?.reasons.join(';') ?? '',
  ];
}

/** One JSONL record: plain data with units in the names. */
export function videoJsonRow(frame: FrameResult, f: TrackedFace): Record<string, unknown> {
  return {
    frame: frame.frameIndex,
    timeMs: round(frame.timestampMs, 1),
    track: f.trackId,
    detected: f.detected,
    boxPx: f.boxPx,
    score: f.score,
    ...(f.landmarksPx === undefined ? {} : { landmarksPx: f.landmarksPx }),
    attributes: f.attributes,
    smoothed: f.smoothed,
    ...(f.quality === undefined ? {} : { quality: f.quality }),
    ...(f.skipped === undefined ? {} : { skipped: f.skipped }),
  };
}

/** {@link videoJsonRow} as one line of JSON, numbers rounded as every JSON output of facesense rounds them. */
export function videoJsonLine(frame: FrameResult, f: TrackedFace): string {
  return JSON.stringify(videoJsonRow(frame, f), roundingReplacer);
}
