/**
 * A sweep's results table (training/sweep.py writes results.csv: `cell`, one column per grid key
 * with JSON-encoded values, then val_acc, test_acc, ..., error) pivoted into a two-key grid of one
 * metric, for paper 000's depth × width (and similar) figures. Pure: text in, grid out.
 */
import { parseCsvLine } from '../data/loaders/common.js';
import { DatasetError } from '../core/errors.js';

export interface SweepTable {
  readonly source: string;
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, string>>[];
  /** 1-based line (CSV) or index (JSON) of each row, for error messages. */
  readonly lines: readonly number[];
}

/** Result columns training/sweep.py writes after the grid keys. */
export const SWEEP_RESULT_COLUMNS: readonly string[] = ['val_acc', 'val_acc_tta_flip', 'test_acc', 'test_acc_tta_flip', 'best_epoch', 'epochs_run', 'train_seconds', 'params', 'gmac', 'images_per_s', 'error'];

export function parseSweepCsv(text: string, source: string): SweepTable {
  const lines = text.split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? '');
  if (header === undefined || header.length < 2 || header.every((h) => h.trim() === '')) throw new DatasetError('DATASET_INVALID', 'line 1: expected a header row of column names (training/sweep.py results.csv)', { source });
  const columns = header.map((h) => h.trim());
  const rows: Record<string, string>[] = [];
  const lineNos: number[] = [];
  lines.slice(1).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = parseCsvLine(line);
    if (cells === undefined) throw new DatasetError('DATASET_INVALID', `line ${i + 2}: unterminated quote`, { source });
    if (cells.length !== columns.length) throw new DatasetError('DATASET_INVALID', `line ${i + 2}: ${cells.length} cells, the header has ${columns.length}`, { source });
    rows.push(Object.fromEntries(columns.map((c, j) => [c, cells[j]!])));
    lineNos.push(i + 2);
  });
  return { source, columns, rows, lines: lineNos };
}

/** JSON: an array of row objects, or `{ "rows": [...] }`. Numbers and strings are kept as text; null as empty. */
export function parseSweepJson(text: string, source: string): SweepTable {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new DatasetError('DATASET_INVALID', `not JSON (${e instanceof Error ? e.message : String(e)})`, { source });
  }
  const list = Array.isArray(value) ? value : typeof value === 'object' && value !== null && Array.isArray((value as { rows?: unknown }).rows) ? (value as { rows: unknown[] }).rows : undefined;
  if (list === undefined) throw new DatasetError('DATASET_INVALID', 'expected an array of row objects, or an object with a "rows" array', { source });
  const columns: string[] = [];
  const rows = list.map((r, i) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new DatasetError('DATASET_INVALID', `rows[${i}] is not an object`, { source });
    const row: Record<string, string> = {};
    for (const [k, v] of Object.entries(r)) {
      if (!columns.includes(k)) columns.push(k);
      row[k] = v === null || v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
    }
    return row;
  });
  return { source, columns, rows, lines: rows.map((_, i) => i) };
}

/** A column by exact name, else the one whose last dotted part is `name` (`depth` → `model.kwargs.depth`). */
export function resolveColumn(t: SweepTable, name: string, option: string): string {
  if (t.columns.includes(name)) return name;
  const matches = t.columns.filter((c) => c.split('.').pop() === name);
  if (matches.length === 1) return matches[0]!;
  const why = matches.length === 0 ? `no column "${name}"` : `"${name}" matches ${matches.join(', ')}; give the full name`;
  throw new DatasetError('DATASET_INVALID', `${option}: ${why}; columns: ${t.columns.join(', ')}`, { source: t.source });
}

/** The grid keys of a sweep.py table: the columns between `cell` and the result columns. */
export function gridKeys(t: SweepTable): string[] {
  if (t.columns[0] !== 'cell') return [];
  return t.columns.slice(1).filter((c) => !SWEEP_RESULT_COLUMNS.includes(c));
}

/** A value as people write it: sweep.py stores grid values JSON-encoded, so `"adam"` shows as adam. */
export function displayValue(raw: string): string {
  const t = raw.trim();
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) {
    try {
      return String(JSON.parse(t));
    } catch {
      return t;
    }
  }
  return t;
}

const isNumber = (s: string) => s.trim() !== '' && Number.isFinite(Number(s));

/** Axis order: numeric ascending when every value is a number, else first appearance. */
export function axisOrder(values: readonly string[]): string[] {
  const unique = [...new Set(values)];
  return unique.every(isNumber) ? unique.sort((a, b) => Number(a) - Number(b)) : unique;
}

export interface GridCell {
  readonly x: string;
  readonly y: string;
  readonly value: number | null;
  /** Why there is no value: failed (with the error), no value, or not run. */
  readonly note: string;
  readonly error?: string;
}

export interface SweepGrid {
  readonly x: string;
  readonly y: string;
  readonly metric: string;
  readonly xOrder: readonly string[];
  readonly yOrder: readonly string[];
  /** Every (x, y) combination, y-major in axis order. */
  readonly cells: readonly GridCell[];
  /** The best cell (highest, or lowest with `lowerIsBetter`), if any has a value. */
  readonly best?: GridCell;
}

export interface GridOptions {
  readonly x: string;
  readonly y: string;
  readonly metric: string;
  /** Keep only rows whose column (name resolved as for x and y) has this value. */
  readonly where?: readonly { readonly column: string; readonly value: string }[];
  readonly lowerIsBetter?: boolean;
}

export function buildGrid(t: SweepTable, o: GridOptions): SweepGrid {
  const x = resolveColumn(t, o.x, '--x');
  const y = resolveColumn(t, o.y, '--y');
  const metric = resolveColumn(t, o.metric, '--metric');
  if (x === y) throw new DatasetError('DATASET_INVALID', `--x and --y are the same column (${x})`, { source: t.source });
  const where = (o.where ?? []).map((w) => ({ column: resolveColumn(t, w.column, '--where'), value: w.value }));
  const kept = t.rows.map((r, i) => ({ r, line: t.lines[i]! })).filter(({ r }) => where.every((w) => displayValue(r[w.column] ?? '') === w.value || (r[w.column] ?? '') === w.value));
  if (kept.length === 0) throw new DatasetError('DATASET_INVALID', `no row${where.length === 0 ? '' : ` matches ${where.map((w) => `${w.column}=${w.value}`).join(' and ')}`}`, { source: t.source });
  const seen = new Map<string, number>();
  const byCell = new Map<string, GridCell>();
  for (const { r, line } of kept) {
    const cx = displayValue(r[x] ?? '');
    const cy = displayValue(r[y] ?? '');
    const key = JSON.stringify([cx, cy]);
    const previous = seen.get(key);
    if (previous !== undefined) {
      const others = t.columns.filter((c) => c !== x && c !== y && c !== 'cell' && !SWEEP_RESULT_COLUMNS.includes(c) && c !== metric);
      throw new DatasetError('DATASET_INVALID', `rows ${previous} and ${line} are both ${y}=${cy}, ${x}=${cx}: the table has more keys than --x and --y; pick one value of the others with --where KEY=VALUE${others.length === 0 ? '' : ` (${others.join(', ')})`}`, { source: t.source });
    }
    seen.set(key, line);
    const raw = (r[metric] ?? '').trim();
    const error = (r.error ?? '').trim();
    const value = isNumber(raw) ? Number(raw) : null;
    if (raw !== '' && value === null) throw new DatasetError('DATASET_INVALID', `line ${line}: ${metric} is ${JSON.stringify(raw)}, not a number`, { source: t.source });
    byCell.set(key, { x: cx, y: cy, value, note: value !== null ? '' : error !== '' ? 'failed' : 'no value', ...(error === '' ? {} : { error }) });
  }
  const xOrder = axisOrder(kept.map(({ r }) => displayValue(r[x] ?? '')));
  const yOrder = axisOrder(kept.map(({ r }) => displayValue(r[y] ?? '')));
  const cells = yOrder.flatMap((cy) => xOrder.map((cx) => byCell.get(JSON.stringify([cx, cy])) ?? { x: cx, y: cy, value: null, note: 'not run' }));
  const sign = o.lowerIsBetter === true ? -1 : 1;
  const best = cells.filter((c) => c.value !== null).reduce<GridCell | undefined>((b, c) => (b === undefined || sign * c.value! > sign * b.value! ? c : b), undefined);
  return { x, y, metric, xOrder, yOrder, cells, ...(best === undefined ? {} : { best }) };
}
