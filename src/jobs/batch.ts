/**
 * Batch job: many images → one result item each, in input order, one bad input never stopping the
 * rest; and the document framing (JSON array, JSONL, CSV) that the CLI's `analyze` and the HTTP
 * service both write, so the two give the same bytes for the same items.
 */
import { basename, extname, join } from 'node:path';
import type { Analyzer, AnalyzeOptions, BatchItem } from '../analyzer.js';
import { writeAnnotated } from '../annotate.js';
import { FacesenseError } from '../errors.js';
import type { ImageInput } from '../types.js';
import { csvHeader, csvLine, csvRows, itemToJson, type OutputFormat } from '../cli/format.js';

/** An input to analyse, or a problem found while listing inputs (reported as that input's error item). */
export type BatchEntry = { readonly path: string } | { readonly path: string; readonly error: FacesenseError };

export interface BatchProgress {
  readonly items: number;
  readonly failed: number;
  readonly faces: number;
}

export interface BatchJobOptions {
  /** Images in flight. @default 2 */
  readonly concurrency?: number;
  /** Per-call analysis options (detection, TTA). */
  readonly analyze?: AnalyzeOptions;
  /** Write each analysed image with its boxes and labels into this directory. */
  readonly annotateDir?: string;
  /** Stops before the next input is started; items already in flight are still yielded. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: BatchProgress) => void;
}

/** Analyses one input into a batch item: bad input becomes the item's typed error, a bug is rethrown. */
export async function analyzeItem(analyzer: Analyzer, input: ImageInput, source: string, options: AnalyzeOptions = {}): Promise<BatchItem> {
  try {
    return { ok: true, source, result: await analyzer.analyze(input, { ...options, sourceName: source }) };
  } catch (e) {
    if (e instanceof FacesenseError) return { ok: false, source, error: e };
    throw e;
  }
}

/** The annotated copy's path for an input: `<dir>/<name>.annotated.<png|webp|jpg>`. */
export function annotatedPath(dir: string, source: string): string {
  const ext = extname(source).toLowerCase();
  return join(dir, `${basename(source, extname(source))}.annotated${['.png', '.webp'].includes(ext) ? ext : '.jpg'}`);
}

/**
 * Runs the analyzer over `entries` with bounded concurrency, yielding one item per entry in order
 * (listing errors where they were found).
 */
export async function* runBatch(analyzer: Analyzer, entries: Iterable<BatchEntry> | AsyncIterable<BatchEntry>, options: BatchJobOptions = {}): AsyncGenerator<BatchItem> {
  const listingErrors: BatchItem[] = [];
  const paths = (async function* () {
    for await (const e of entries) {
      if (options.signal?.aborted === true) return;
      if ('error' in e) listingErrors.push({ ok: false, source: e.path, error: e.error });
      else yield e.path;
    }
  })();
  let items = 0;
  let failed = 0;
  let faces = 0;
  const counted = (item: BatchItem): BatchItem => {
    items++;
    if (item.ok) faces += item.result.faces.length;
    else failed++;
    options.onProgress?.({ items, failed, faces });
    return item;
  };
  for await (const item of analyzer.analyzeMany(paths, { ...options.analyze, concurrency: options.concurrency ?? 2 })) {
    for (const e of listingErrors.splice(0)) yield counted(e);
    if (item.ok && options.annotateDir !== undefined) await writeAnnotated(item.source, item.result.faces, annotatedPath(options.annotateDir, item.source));
    yield counted(item);
  }
  for (const e of listingErrors.splice(0)) yield counted(e);
}

type TaskColumns = readonly { readonly task: string; readonly labels: readonly string[] }[];

/** Serialises batch items as one document: `head()`, `item()` per item, `tail()`. */
export interface BatchDocument {
  readonly contentType: string;
  head(): string;
  item(item: BatchItem): string;
  tail(): string;
}

export function batchDocument(format: OutputFormat, tasks: TaskColumns): BatchDocument {
  let n = 0;
  switch (format) {
    case 'csv':
      return { contentType: 'text/csv; charset=utf-8', head: () => `${csvLine(csvHeader(tasks))}\n`, item: (it) => csvRows(it, tasks).map((r) => `${csvLine(r)}\n`).join(''), tail: () => '' };
    case 'jsonl':
      return { contentType: 'application/x-ndjson; charset=utf-8', head: () => '', item: (it) => `${JSON.stringify(itemToJson(it))}\n`, tail: () => '' };
    case 'json':
      return { contentType: 'application/json; charset=utf-8', head: () => '[\n', item: (it) => `${n++ > 0 ? ',\n' : ''}${JSON.stringify(itemToJson(it))}`, tail: () => '\n]\n' };
  }
}
