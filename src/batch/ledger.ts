/**
 * Append-only JSONL result log that survives `kill -9` at any instant with no duplicate and no gap.
 *
 * Each record is one line; a record counts as done only once its whole line, newline included, is
 * in the file. A crash can leave at most one partial line at the end: opening the log truncates it
 * away, so that input is simply analysed again. Writes are group-committed (records arriving
 * while one write+fdatasync is in flight go out together in the next), so the cost of durability
 * against power loss is one fdatasync per group, not per record.
 */
import { createReadStream } from 'node:fs';
import { open, truncate, type FileHandle } from 'node:fs/promises';
import { BatchError } from '../core/errors.js';

export interface Ledger<T> {
  /** Appends a record; resolves once it is written and synced to disk. */
  append(record: T): Promise<void>;
  close(): Promise<void>;
}

/**
 * Reads every complete record of `path` (a missing file has none), truncates a trailing partial
 * line (unless `readOnly`: a reader beside a running batch must not cut the line being written),
 * and calls `onRecord` for each complete one.
 */
export async function recoverLedger<T>(path: string, onRecord: (r: T) => void, options: { readOnly?: boolean } = {}): Promise<{ records: number; truncatedBytes: number }> {
  let kept = 0;
  let size = 0;
  let records = 0;
  let pending: Buffer[] = [];
  let lineNo = 0;
  const stream = createReadStream(path);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      let from = 0;
      for (let nl = chunk.indexOf(10, from); nl >= 0; nl = chunk.indexOf(10, from)) {
        pending.push(chunk.subarray(from, nl));
        const raw = Buffer.concat(pending);
        const line = raw.toString('utf8');
        pending = [];
        lineNo++;
        kept += raw.length + 1;
        from = nl + 1;
        if (line.trim() === '') continue;
        let rec: T;
        try {
          rec = JSON.parse(line) as T;
        } catch {
          // Only the last line can be torn by a crash; a bad line followed by more means the file was edited or damaged.
          throw new BatchError('BATCH_STATE', `line ${lineNo} is not valid JSON though records follow it; repair or remove the file`, { source: path });
        }
        onRecord(rec);
        records++;
      }
      if (from < chunk.length) pending.push(chunk.subarray(from));
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { records: 0, truncatedBytes: 0 };
    throw e;
  }
  if (size > kept && options.readOnly !== true) await truncate(path, kept);
  return { records, truncatedBytes: size - kept };
}

export async function openLedger<T>(path: string): Promise<Ledger<T>> {
  const fh: FileHandle = await open(path, 'a');
  let queue: { line: string; done: () => void; fail: (e: unknown) => void }[] = [];
  let flushing: Promise<void> | undefined;
  let failure: unknown;

  async function flushLoop(): Promise<void> {
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      try {
        await fh.write(group.map((g) => g.line).join(''));
        await fh.datasync();
        for (const g of group) g.done();
      } catch (e) {
        failure = e;
        for (const g of group) g.fail(e);
      }
    }
    flushing = undefined;
  }

  return {
    append(record) {
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<void>((done, fail) => {
        queue.push({ line: `${JSON.stringify(record)}\n`, done, fail });
        flushing ??= flushLoop();
      });
    },
    async close() {
      await flushing;
      await fh.close();
    },
  };
}
