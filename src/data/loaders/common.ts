/** Helpers every layout loader shares: problem collection, line reading, CSV, seeded shuffles. */
import { createReadStream, type Dirent } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { DatasetError } from '../../core/errors.js';
import { fileKind } from '../../io/safe-read.js';
import type { DatasetLoader, LayoutName, Problem, Sample, TargetSpec } from '../types.js';

/**
 * Collects problems; under `strict` the first `error` problem throws instead, so a strict run
 * stops at the first bad row with its file and line.
 */
export class ProblemLog {
  readonly items: Problem[] = [];
  constructor(readonly strict: boolean) {}

  report(problem: Problem): void {
    if (this.strict && problem.kind === 'error') {
      const source = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
      throw new DatasetError(problem.code ?? 'DATASET_INVALID', problem.reason, { source });
    }
    this.items.push(problem);
  }

  error(file: string, line: number | undefined, reason: string, code: Problem['code'] = 'DATASET_INVALID'): void {
    this.report(line === undefined ? { file, reason, kind: 'error', code } : { file, line, reason, kind: 'error', code });
  }

  exclude(file: string, line: number | undefined, reason: string): void {
    this.report(line === undefined ? { file, reason, kind: 'excluded' } : { file, line, reason, kind: 'excluded' });
  }
}

/** Wraps a listing function as a DatasetLoader with a fresh ProblemLog per listing. */
export function makeLoader(
  layout: LayoutName,
  root: string,
  targets: readonly TargetSpec[],
  strict: boolean,
  list: (log: ProblemLog) => AsyncIterable<Sample>,
): DatasetLoader {
  let current = new ProblemLog(strict);
  return {
    layout,
    root,
    targets,
    get problems(): readonly Problem[] {
      return current.items;
    },
    samples(): AsyncIterable<Sample> {
      current = new ProblemLog(strict);
      return list(current);
    },
  };
}

export async function requireFile(path: string, what: string): Promise<void> {
  let s;
  try {
    s = await stat(path);
  } catch {
    throw new DatasetError('INPUT_NOT_FOUND', `${what} not found (expected a file)`, { source: path });
  }
  // A device (/dev/zero) or FIFO would be read forever or block: regular files only.
  if (!s.isFile()) throw new DatasetError('INPUT_UNREADABLE', `${what} is ${fileKind(s)}, not a regular file`, { source: path });
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Directory entries sorted by name (codepoint order, so listings are identical everywhere). */
export async function listDir(path: string, what = 'dataset folder'): Promise<Dirent[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (cause) {
    throw new DatasetError('INPUT_NOT_FOUND', `${what} not found or not readable`, { source: path, cause });
  }
  const visible = entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => compareStrings(a.name, b.name));
  return Promise.all(visible.map((e) => (e.isSymbolicLink() ? followLink(join(path, e.name), e) : e)));
}

/**
 * A symbolic link as the entry it points to: a link to a folder is a folder; any other link
 * (to a file, dangling, or to a device) counts as a file, so the image reader reports it with a
 * typed error instead of the listing dropping it without a word.
 */
async function followLink(path: string, e: Dirent): Promise<Dirent> {
  const dir = await stat(path).then((s) => s.isDirectory(), () => false);
  return Object.create(e, { isDirectory: { value: () => dir }, isFile: { value: () => !dir }, isSymbolicLink: { value: () => false } }) as Dirent;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Extensions sharp decodes that image datasets use. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic']);

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

export interface TextLine {
  /** 1-based line number. */
  readonly line: number;
  readonly text: string;
}

/** Longest line (characters) readLines accepts: the longest real rows (FER2013 pixels) are ~9 kB. */
export const MAX_LINE_CHARS = 16 * 1024 * 1024;

/**
 * Streams a text file's lines (BOM and CR stripped), so a 300 MB CSV is never held whole; a line
 * longer than `maxLineChars` (a 600 MB single-line file) is a DatasetError, not a crash.
 */
export async function* readLines(path: string, what = 'file', maxLineChars = MAX_LINE_CHARS): AsyncGenerator<TextLine> {
  await requireFile(path, what);
  const stream = createReadStream(path, { encoding: 'utf8' });
  let line = 0;
  // Pieces of the line being read: only each new chunk is searched for a newline (searching the
  // joined pending text per chunk would copy a long line again and again).
  let parts: string[] = [];
  let pendingChars = 0;
  const emit = (raw: string): TextLine => {
    line++;
    let text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return { line, text };
  };
  try {
    for await (const chunk of stream as AsyncIterable<string>) {
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf('\n', start)) >= 0) {
        parts.push(chunk.slice(start, nl));
        yield emit(parts.join(''));
        parts = [];
        pendingChars = 0;
        start = nl + 1;
      }
      if (start < chunk.length) {
        parts.push(chunk.slice(start));
        pendingChars += chunk.length - start;
      }
      if (pendingChars > maxLineChars) {
        throw new DatasetError('DATASET_INVALID', `line ${line + 1} is longer than ${maxLineChars} characters; not a line of this dataset's files`, { source: path });
      }
    }
    if (parts.length > 0) yield emit(parts.join(''));
  } finally {
    stream.destroy();
  }
}

/**
 * Splits one CSV record (RFC 4180 quoting, no embedded newlines: none of the label files have
 * them). Returns undefined for an unterminated quote.
 */
export function parseCsvLine(text: string, delimiter = ','): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) return undefined;
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      // Anything between the closing quote and the delimiter is kept, as spreadsheets do.
      const next = text.indexOf(delimiter, i);
      value += next < 0 ? text.slice(i) : text.slice(i, next);
      out.push(value);
      if (next < 0) return out;
      i = next + delimiter.length;
    } else {
      const next = text.indexOf(delimiter, i);
      if (next < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, next));
      i = next + delimiter.length;
    }
  }
}

/** Parses a whole non-negative decimal integer; undefined for anything else ("1.5", "", "x"). */
export function parseNonNegativeInt(s: string): number | undefined {
  const t = s.trim();
  if (!/^\d{1,15}$/.test(t)) return undefined;
  return Number.parseInt(t, 10);
}

/** FER2013 `Usage` values and the split names packs use for them. */
export const FER_USAGE_SPLITS: Readonly<Record<string, string>> = Object.freeze({
  Training: 'train',
  PublicTest: 'val',
  PrivateTest: 'test',
});

/** Seeded PRNG (mulberry32): tiny, fast and identical in every JS engine, for reproducible splits. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle into a new array. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const a = out[i] as T;
    out[i] = out[j] as T;
    out[j] = a;
  }
  return out;
}

/** Canonical split order for listings and meta.json: train, val, test, then the rest by name. */
export function compareSplits(a: string, b: string): number {
  const rank = (s: string): number => {
    const i = ['train', 'val', 'test'].indexOf(s);
    return i < 0 ? 3 : i;
  };
  const fold = (s: string): number | undefined => {
    const m = /^fold(\d+)$/.exec(s);
    return m?.[1] === undefined ? undefined : Number.parseInt(m[1], 10);
  };
  const fa = fold(a);
  const fb = fold(b);
  if (fa !== undefined && fb !== undefined) return fa - fb;
  return rank(a) - rank(b) || compareStrings(a, b);
}

/**
 * Finds `relative` in `start` or one of its ancestors: project files (the UTKFace split list)
 * sit at the package root, which is a different number of levels up from `src/` and `dist/src/`.
 */
export async function findUp(start: string, relative: string, maxLevels = 8): Promise<string | undefined> {
  let dir = resolve(start);
  for (let i = 0; i <= maxLevels; i++) {
    const candidate = join(dir, relative);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // not here; try the parent
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}
