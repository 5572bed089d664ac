/**
 * Batch job: many images → one result item each, in input order, one bad input never stopping the
 * rest; and the document framing (JSON array, JSONL, CSV) that the CLI's `analyze` and the HTTP
 * service both write, so the two give the same bytes for the same items.
 */
import { mkdir } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve, sep } from 'node:path';
import type { Analyzer, AnalyzeOptions, BatchItem } from '../core/analyzer.js';
import { FacesenseError } from '../core/errors.js';
import type { ImageInput } from '../core/types.js';
import { checkOutputDir } from '../io/outputs.js';
import { writeAnnotated } from '../node/annotate.js';
import { csvHeader, csvLine, csvRows, itemToJson, roundingReplacer, type CsvOptions, type OutputFormat } from '../core/format.js';
import { humanLines } from '../core/human.js';

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
  /**
   * Write each analysed image with its boxes and labels into this directory (checked, and created
   * if missing, before the first input is read: see {@link checkBatchOutputs}).
   */
  readonly annotateDir?: string;
  /** The label lines drawn on annotated copies (`id`, `quality`, task names). @default every task */
  readonly annotateLabels?: readonly string[];
  /**
   * Stops before the next input is started; inputs already in flight end as ABORTED items, and the
   * batch then throws ABORTED (the analyzer's lifecycle).
   */
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: BatchProgress) => void;
  /**
   * An annotated copy that cannot be written costs only that copy: the item is still yielded, and
   * this is told why. Without it the failure is ignored.
   */
  readonly onAnnotateError?: (source: string, target: string, error: unknown) => void;
}

/** The batch's output locations are usable (the annotate directory exists or is created, and is writable): call before any work. */
export async function checkBatchOutputs(options: Pick<BatchJobOptions, 'annotateDir'>, optionName = '--annotate'): Promise<void> {
  if (options.annotateDir !== undefined) await checkOutputDir(optionName, options.annotateDir);
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

/**
 * Where the annotated copy of `source` goes: the input's folder tree relative to `cwd` is mirrored
 * under `outDir` (leading `..` segments dropped), so `a/x.jpg` and `b/x.jpg` become
 * `outDir/a/x.annotated.jpg` and `outDir/b/x.annotated.jpg` instead of overwriting each other.
 * PNG and WebP keep their format; everything else becomes JPEG.
 */
export function annotatedPath(outDir: string, source: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, resolve(cwd, source));
  const parts = dirname(rel).split(sep).filter((p) => p !== '' && p !== '.' && p !== '..');
  const ext = extname(source).toLowerCase();
  const name = `${basename(source, extname(source))}.annotated${['.png', '.webp'].includes(ext) ? ext : '.jpg'}`;
  return join(outDir, ...parts, name);
}

/**
 * Runs the analyzer over `entries` with bounded concurrency, yielding one item per entry in the
 * order the entries were listed (a listing error comes out where it was found, between the results
 * of the paths listed before and after it).
 */
export async function* runBatch(analyzer: Analyzer, entries: Iterable<BatchEntry> | AsyncIterable<BatchEntry>, options: BatchJobOptions = {}): AsyncGenerator<BatchItem> {
  await checkBatchOutputs(options);
  // Listing errors and paths in listing order: each result is yielded after the listing errors
  // found before its path.
  const listed: (BatchItem | 'path')[] = [];
  const paths = (async function* () {
    for await (const e of entries) {
      if (options.signal?.aborted === true) return;
      if ('error' in e) listed.push({ ok: false, source: e.path, error: e.error });
      else {
        listed.push('path');
        yield e.path;
      }
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
  /** The listing errors queued before the next path (all of them at the end). */
  const listedErrors = (upToPath: boolean): BatchItem[] => {
    const out: BatchItem[] = [];
    while (listed.length > 0) {
      const head = listed.shift()!;
      if (head === 'path') {
        if (upToPath) break;
        continue;
      }
      out.push(head);
    }
    return out;
  };
  const analyzeOpts = { ...options.analyze, ...(options.signal === undefined ? {} : { signal: options.signal }), concurrency: options.concurrency ?? 2 };
  for await (const item of analyzer.analyzeMany(paths, analyzeOpts)) {
    for (const e of listedErrors(true)) yield counted(e);
    if (item.ok && options.annotateDir !== undefined) {
      const target = annotatedPath(options.annotateDir, item.source);
      try {
        await mkdir(dirname(target), { recursive: true });
        await writeAnnotated(item.source, item.result.faces, target, options.annotateLabels === undefined ? {} : { labels: options.annotateLabels });
      } catch (e) {
        options.onAnnotateError?.(item.source, target, e);
      }
    }
    yield counted(item);
  }
  for (const e of listedErrors(false)) yield counted(e);
}

type TaskColumns = readonly { readonly task: string; readonly labels: readonly string[] }[];

/** Serialises batch items as one document: `head()`, `item()` per item, `tail()`. */
export interface BatchDocument {
  readonly contentType: string;
  head(): string;
  item(item: BatchItem): string;
  tail(): string;
}

/**
 * The document for `format`; JSON numbers rounded (see roundingReplacer); `table` is the terminal
 * view (src/core/human.ts).
 */
export function batchDocument(format: OutputFormat, tasks: TaskColumns, options: { readonly csv?: CsvOptions } = {}): BatchDocument {
  let n = 0;
  const json = (it: BatchItem) => JSON.stringify(itemToJson(it), roundingReplacer);
  switch (format) {
    case 'csv':
      return { contentType: 'text/csv; charset=utf-8', head: () => `${csvLine(csvHeader(tasks, options.csv))}\n`, item: (it) => csvRows(it, tasks, options.csv).map((r) => `${csvLine(r)}\n`).join(''), tail: () => '' };
    case 'jsonl':
      return { contentType: 'application/x-ndjson; charset=utf-8', head: () => '', item: (it) => `${json(it)}\n`, tail: () => '' };
    case 'json':
      return { contentType: 'application/json; charset=utf-8', head: () => '[\n', item: (it) => `${n++ > 0 ? ',\n' : ''}${json(it)}`, tail: () => '\n]\n' };
    case 'table':
      return { contentType: 'text/plain; charset=utf-8', head: () => '', item: (it) => `${humanLines(it, tasks).join('\n')}\n`, tail: () => '' };
  }
}
