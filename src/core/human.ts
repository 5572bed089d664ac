/** The terminal view of `analyze`: per image a header line, then one aligned line per face. */
import type { BatchItem, FaceResult } from './analyzer.js';
import type { TaskResult } from './postprocess.js';

/** A task's result as a short cell: `happiness 99%`, `age 21`, or `` when the task did not run. */
export function taskCell(r: TaskResult | undefined): string {
  if (r === undefined) return '';
  switch (r.kind) {
    case 'class':
      return `${r.label} ${Math.round(r.score * 100)}%`;
    case 'value':
      return `${Math.round(r.value)}`;
    case 'multilabel':
      return Object.entries(r.scores).filter(([, p]) => p >= 0.5).map(([l]) => l).join('+') || '-';
    case 'values':
      return Object.entries(r.values).map(([l, v]) => `${l}=${v.toFixed(2)}`).join(' ');
  }
}

function faceCells(f: FaceResult, i: number, tasks: readonly { task: string }[]): string[] {
  const b = f.boxPx;
  const box = `${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}×${Math.round(b.height)}`;
  const pose = f.pose === undefined ? '' : `yaw ${Math.round(f.pose.yawDeg)}° roll ${Math.round(f.pose.rollDeg)}°`;
  const tail = f.skipped === undefined ? tasks.map(({ task }) => taskCell(f.attributes[task])) : [`skipped: ${f.skipped.code}`, ...tasks.slice(1).map(() => '')];
  const reliable = f.quality === undefined ? '' : f.quality.reliable ? 'yes' : `no: ${f.quality.reasons.join(',')}`;
  return [`${i}`, box, f.score.toFixed(2), reliable, ...tail, pose];
}

/**
 * Lines for one batch item: `source  W×H  N faces` (or the error), then a header and one line per
 * face with box, detector score, every task and the head pose, columns padded to align.
 */
export function humanLines(item: BatchItem, tasks: readonly { task: string }[]): string[] {
  if (!item.ok) return [`${item.source}  error ${item.error.code}: ${item.error.message}`];
  const { result } = item;
  const n = result.faces.length;
  const lines = [`${item.source}  ${result.widthPx}×${result.heightPx}  ${n === 0 ? 'no faces' : n === 1 ? '1 face' : `${n} faces`}`];
  if (n === 0) return lines;
  const rows = [['#', 'box x,y w×h', 'score', 'reliable', ...tasks.map((t) => t.task), 'pose'], ...result.faces.map((f, i) => faceCells(f, i, tasks))];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) lines.push(`  ${r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()}`);
  return lines;
}
