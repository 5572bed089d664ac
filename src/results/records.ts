/**
 * Result records: one plain JSON object per input, exactly the objects `facesense analyze
 * --format jsonl` prints (`itemToJson`). Every sink (batch directory, shared --out directory,
 * PostgreSQL) stores these and exports them back to the CLI's JSONL and CSV.
 */
import type { BatchItem, ImageResult } from '../core/analyzer.js';
import { FacesenseError, type ErrorCode } from '../core/errors.js';
import { csvHeader, csvLine, csvRows, itemToJson } from '../core/format.js';

export type ResultRecord =
  | ({ readonly ok: true; readonly source: string } & Omit<ImageResult, 'source'>)
  | { readonly source: string; readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly source?: string } };

export type TaskColumns = readonly { readonly task: string; readonly labels: readonly string[] }[];

export function recordOf(item: BatchItem): ResultRecord {
  return itemToJson(item) as unknown as ResultRecord;
}

/** The batch item a record was made from (errors keep their code and message). */
export function itemOf(r: ResultRecord): BatchItem {
  if (r.ok) {
    const { ok, ...result } = r;
    void ok; // the record's flag, not part of ImageResult
    return { ok: true, source: r.source, result: result as ImageResult };
  }
  return { ok: false, source: r.source, error: new FacesenseError(r.error.code, r.error.message) };
}

/** Writes records as the CLI's JSONL or CSV (one header, one row per face or per image). */
export async function exportRecords(records: AsyncIterable<ResultRecord> | Iterable<ResultRecord>, format: 'jsonl' | 'csv', tasks: TaskColumns, write: (s: string) => Promise<void>): Promise<number> {
  let n = 0;
  if (format === 'csv') await write(`${csvLine(csvHeader(tasks))}\n`);
  for await (const r of records) {
    n++;
    if (format === 'jsonl') await write(`${JSON.stringify(r)}\n`);
    else for (const row of csvRows(itemOf(r), tasks)) await write(`${csvLine(row)}\n`);
  }
  return n;
}

/** Counts of a set of records: inputs, ok, failed, faces, failures by error code. */
export interface RecordTally {
  inputs: number;
  ok: number;
  failed: number;
  faces: number;
  errors: Record<string, number>;
}

export function emptyTally(): RecordTally {
  return { inputs: 0, ok: 0, failed: 0, faces: 0, errors: {} };
}

export function tally(t: RecordTally, r: ResultRecord): void {
  t.inputs++;
  if (r.ok) {
    t.ok++;
    t.faces += r.faces.length;
  } else {
    t.failed++;
    t.errors[r.error.code] = (t.errors[r.error.code] ?? 0) + 1;
  }
}
