/**
 * Kaggle `fer2013.csv`: header `emotion,pixels,Usage`, one face per row as 2304 space-separated
 * gray values (48x48). Usage Training/PublicTest/PrivateTest → splits train/val/test.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from '../../core/errors.js';
import type { Image8 } from '../../core/types.js';
import type { DatasetLoader, LoaderOptions, Sample, TargetSpec } from '../types.js';
import { FER_USAGE_SPLITS, makeLoader, parseNonNegativeInt, readLines, type ProblemLog } from './common.js';

/** Kaggle's label order: the `emotion` column is an index into this list. */
export const FER2013_CLASSES: readonly string[] = Object.freeze(['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']);
export const FER2013_SIZE = 48;

export const FER2013_TARGETS: readonly TargetSpec[] = Object.freeze([{ name: 'emotion', kind: 'class', classes: FER2013_CLASSES }]);

/** One parsed row of fer2013.csv; `emotion` is absent when the row had none (Kaggle's test.csv). */
export interface Fer2013Row {
  readonly line: number;
  readonly split: string;
  readonly usage: string;
  readonly emotion?: number;
  readonly pixels: Image8;
}

/**
 * Parses the 2304 pixel values. Hand-rolled rather than `split(' ').map(Number)` because this
 * runs 35,887 times and must reject "", "256" and "1.5" precisely.
 */
export function parseFerPixels(text: string): Uint8Array | string {
  const n = FER2013_SIZE * FER2013_SIZE;
  const out = new Uint8Array(n);
  let count = 0;
  let value = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if (c >= 48 && c <= 57) {
      value = value < 0 ? c - 48 : value * 10 + (c - 48);
      if (value > 255) return `pixel value out of range 0..255 at position ${count + 1}`;
    } else if (c === 32 || c === 9) {
      if (value >= 0) {
        if (count >= n) return `expected ${n} pixel values, found more`;
        out[count++] = value;
        value = -1;
      }
    } else {
      return `invalid character ${JSON.stringify(text[i])} in pixels at position ${count + 1}`;
    }
  }
  if (count !== n) return `expected ${n} pixel values, found ${count}`;
  return out;
}

/**
 * Streams the rows of a fer2013.csv-style file, reporting bad rows to `log`. Shared with the
 * FER+ CSV loader, which joins these rows with fer2013new.csv.
 */
export async function* readFer2013Csv(file: string, log: ProblemLog, requireEmotion: boolean): AsyncGenerator<Fer2013Row | { readonly line: number; readonly bad: true }> {
  let emotionCol = -1;
  let pixelsCol = -1;
  let usageCol = -1;
  let lines = 0;
  for await (const { line, text } of readLines(file, 'FER2013 CSV')) {
    lines = line;
    if (line === 1) {
      const header = text.split(',').map((h) => h.trim());
      emotionCol = header.indexOf('emotion');
      pixelsCol = header.indexOf('pixels');
      usageCol = header.indexOf('Usage');
      if (pixelsCol < 0 || (requireEmotion && emotionCol < 0)) {
        throw new DatasetError('DATASET_INVALID', `line 1: header ${JSON.stringify(text.slice(0, 80))} lacks the ${pixelsCol < 0 ? 'pixels' : 'emotion'} column (expected emotion,pixels,Usage)`, { source: file });
      }
      continue;
    }
    if (text.trim() === '') continue;
    // No field contains a comma, so a plain split is exact and far cheaper than a CSV parser.
    const cells = text.split(',');
    const bad = (reason: string): { line: number; bad: true } => {
      log.error(file, line, reason);
      return { line, bad: true };
    };
    const pixelsText = cells[pixelsCol];
    if (pixelsText === undefined) {
      yield bad(`expected at least ${pixelsCol + 1} columns, found ${cells.length}`);
      continue;
    }
    let emotion: number | undefined;
    if (emotionCol >= 0) {
      const raw = cells[emotionCol] ?? '';
      emotion = parseNonNegativeInt(raw);
      if (emotion === undefined || emotion >= FER2013_CLASSES.length) {
        yield bad(`unknown emotion ${JSON.stringify(raw)} (expected 0..${FER2013_CLASSES.length - 1})`);
        continue;
      }
    }
    const usage = usageCol >= 0 ? (cells[usageCol] ?? '').trim() : 'Training';
    const split = FER_USAGE_SPLITS[usage];
    if (split === undefined) {
      yield bad(`unknown Usage ${JSON.stringify(usage)} (expected Training, PublicTest or PrivateTest)`);
      continue;
    }
    const pixels = parseFerPixels(pixelsText);
    if (typeof pixels === 'string') {
      yield bad(pixels);
      continue;
    }
    const image: Image8 = { data: pixels, width: FER2013_SIZE, height: FER2013_SIZE, channels: 1 };
    yield emotion === undefined ? { line, split, usage, pixels: image } : { line, split, usage, emotion, pixels: image };
  }
  if (lines === 0) throw new DatasetError('DATASET_INVALID', 'the file is empty: no header line (expected emotion,pixels,Usage)', { source: file });
}

export interface Fer2013CsvOptions extends LoaderOptions {
  /** The CSV file itself, or a folder holding `fer2013.csv`. */
  readonly root: string;
}

/** Resolves `root` to the CSV: a folder is taken to hold `fer2013.csv`. */
export async function fer2013CsvPath(root: string, name = 'fer2013.csv'): Promise<string> {
  try {
    if ((await stat(root)).isDirectory()) return join(root, name);
  } catch {
    // not there: readLines reports it as INPUT_NOT_FOUND with the path as given
  }
  return root;
}

export function createFer2013CsvLoader(options: Fer2013CsvOptions): DatasetLoader {
  return makeLoader('fer2013-csv', options.root, FER2013_TARGETS, options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const file = await fer2013CsvPath(options.root);
    for await (const row of readFer2013Csv(file, log, true)) {
      if ('bad' in row || row.emotion === undefined) continue;
      yield {
        // The 0-based row index is the image's identity (fer2013new.csv is aligned to it by row;
        // its fer%07d names are not the row index: they skip after some dropped rows).
        id: `fer2013.csv#${String(row.line - 2).padStart(7, '0')}`,
        file,
        line: row.line,
        split: row.split,
        image: { kind: 'pixels', pixels: row.pixels },
        labels: { emotion: row.emotion },
      };
    }
  });
}
