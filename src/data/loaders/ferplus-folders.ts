/**
 * FER+ (Barsoum et al. 2016): the FER2013 faces re-labelled by 10 crowd workers each.
 * Folder layout: `FER2013{Train,Valid,Test}/fer%07d.png` plus a header-less `label.csv` per
 * folder: file, face box "(x, y, w, h)", then votes for the 8 emotions, unknown and not-a-face.
 *
 * Targets: `emotion` = the vote distribution over the 8 emotions (unknown / not-a-face votes
 * dropped, renormalised) and `emotion_majority` = the most-voted label. Following the FER+
 * protocol, images whose most-voted label is unknown or not-a-face are excluded (reported as
 * `excluded`, never fatal). Ties go to the first column, as numpy's argmax does in the reference
 * implementation, so an emotion tied with unknown keeps the image.
 *
 * Two protocols decide which images are labelled and how (`FerplusProtocol`):
 * - `plurality` (default): every vote counts; the label is the most-voted column (3,545 test images).
 * - `majority`: Barsoum et al.'s reference ("majority" mode of the FERPlus repository, used for
 *   its test figures): votes of 1 are set to 0 (outliers), and an image is kept only when its top
 *   column holds more than half of the remaining votes and is an emotion (3,137 test images). Its
 *   `emotion` target is then one-hot on that label, as the reference trains and scores it.
 */
import { join } from 'node:path';
import { OptionError } from '../../core/errors.js';
import type { DatasetLoader, LoaderOptions, Sample, TargetSpec } from '../types.js';
import { isDirectory, listDir, makeLoader, parseCsvLine, parseNonNegativeInt, readLines } from './common.js';

/** The 8 emotions in FER+ column order. */
export const FERPLUS_CLASSES: readonly string[] = Object.freeze(['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt']);
/** All vote columns, in file order. */
export const FERPLUS_VOTE_COLUMNS: readonly string[] = Object.freeze([...FERPLUS_CLASSES, 'unknown', 'NF']);

export const FERPLUS_TARGETS: readonly TargetSpec[] = Object.freeze([
  { name: 'emotion', kind: 'distribution', classes: FERPLUS_CLASSES },
  { name: 'emotion_majority', kind: 'class', classes: FERPLUS_CLASSES },
]);

export const FERPLUS_FOLDER_SPLITS: Readonly<Record<string, string>> = Object.freeze({
  FER2013Train: 'train',
  FER2013Valid: 'val',
  FER2013Test: 'test',
});

/** How votes become labels; see the module comment. */
export const FERPLUS_PROTOCOLS = Object.freeze(['plurality', 'majority'] as const);
export type FerplusProtocol = (typeof FERPLUS_PROTOCOLS)[number];

export function isFerplusProtocol(s: string): s is FerplusProtocol {
  return (FERPLUS_PROTOCOLS as readonly string[]).includes(s);
}

/** `--protocol` of eval and prepare: undefined when not given. */
export function parseFerplusProtocol(value: string | undefined): FerplusProtocol | undefined {
  if (value === undefined) return undefined;
  if (!isFerplusProtocol(value)) throw new OptionError(`--protocol must be ${FERPLUS_PROTOCOLS.join(' or ')} (FER+ labels), got ${JSON.stringify(value)}`);
  return value;
}

export interface FerplusLoaderOptions extends LoaderOptions {
  /** Default `plurality`. */
  readonly protocol?: FerplusProtocol;
}

export type FerplusVerdict =
  | { readonly ok: true; readonly distribution: readonly number[]; readonly majority: number }
  | { readonly ok: false; readonly kind: 'error' | 'excluded'; readonly reason: string };

/** Parses the 10 vote cells; a string is the reason they are unusable. */
export function parseFerplusVotes(cells: readonly string[]): number[] | string {
  if (cells.length !== FERPLUS_VOTE_COLUMNS.length) return `expected ${FERPLUS_VOTE_COLUMNS.length} vote columns, found ${cells.length}`;
  const votes: number[] = [];
  for (const [i, cell] of cells.entries()) {
    const v = parseNonNegativeInt(cell);
    if (v === undefined) return `vote for ${FERPLUS_VOTE_COLUMNS[i] ?? '?'} is ${JSON.stringify(cell)}, not a non-negative integer`;
    votes.push(v);
  }
  return votes;
}

function argmaxFirst(votes: readonly number[]): number {
  let top = 0;
  for (let i = 1; i < votes.length; i++) if ((votes[i] ?? 0) > (votes[top] ?? 0)) top = i;
  return top;
}

function nonEmotion(index: number): string {
  return index === FERPLUS_CLASSES.length ? 'unknown' : 'not a face';
}

/** Turns the 10 vote counts into the targets under `protocol`, or says why the image is left out. */
export function ferplusLabels(votes: readonly number[], protocol: FerplusProtocol = 'plurality'): FerplusVerdict {
  if (votes.every((v) => v === 0)) return { ok: false, kind: 'error', reason: 'no votes at all' };
  if (protocol === 'majority') {
    const kept = votes.map((v) => (v > 1 ? v : 0));
    const total = kept.reduce((a, b) => a + b, 0);
    const top = argmaxFirst(kept);
    const topVotes = kept[top] ?? 0;
    if (2 * topVotes <= total) {
      return { ok: false, kind: 'excluded', reason: `no label holds more than half of the ${total} votes left after dropping single votes (FER+ majority protocol)` };
    }
    if (top >= FERPLUS_CLASSES.length) return { ok: false, kind: 'excluded', reason: `majority vote is ${nonEmotion(top)} (FER+ majority protocol)` };
    return { ok: true, distribution: FERPLUS_CLASSES.map((_, i) => (i === top ? 1 : 0)), majority: top };
  }
  const majority = argmaxFirst(votes);
  const emotionVotes = votes.slice(0, FERPLUS_CLASSES.length);
  const total = emotionVotes.reduce((a, b) => a + b, 0);
  if (majority >= FERPLUS_CLASSES.length) {
    return { ok: false, kind: 'excluded', reason: `majority vote is ${nonEmotion(majority)} (FER+ protocol)` };
  }
  return { ok: true, distribution: emotionVotes.map((v) => v / total), majority };
}

export function createFerplusFoldersLoader(options: FerplusLoaderOptions): DatasetLoader {
  const root = options.root;
  return makeLoader('ferplus-folders', root, FERPLUS_TARGETS, options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const present: string[] = [];
    for (const folder of Object.keys(FERPLUS_FOLDER_SPLITS)) {
      if (await isDirectory(join(root, folder))) present.push(folder);
    }
    if (present.length === 0) {
      // Nothing to list: same failure as a missing root, with the layout spelled out.
      await listDir(join(root, 'FER2013Train'), 'FER+ folder (expected FER2013Train, FER2013Valid, FER2013Test)');
    }
    for (const folder of Object.keys(FERPLUS_FOLDER_SPLITS)) {
      if (!present.includes(folder)) log.error(join(root, folder), undefined, 'FER+ split folder missing', 'INPUT_NOT_FOUND');
    }
    for (const folder of present) {
      const split = FERPLUS_FOLDER_SPLITS[folder] ?? 'train';
      const dir = join(root, folder);
      const images = new Set((await listDir(dir)).filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.png')).map((e) => e.name));
      const labelled = new Set<string>();
      const csv = join(dir, 'label.csv');
      for await (const { line, text } of readLines(csv, 'FER+ label.csv')) {
        if (text.trim() === '') continue;
        const cells = parseCsvLine(text);
        if (cells === undefined) {
          log.error(csv, line, 'unterminated quote');
          continue;
        }
        const name = (cells[0] ?? '').trim();
        // The official files have no header; tolerate one written by other tools.
        if (line === 1 && !name.toLowerCase().endsWith('.png')) continue;
        if (labelled.has(name)) {
          log.error(csv, line, `duplicate row for ${name}`);
          continue;
        }
        labelled.add(name);
        const votes = parseFerplusVotes(cells.slice(2));
        if (typeof votes === 'string') {
          log.error(csv, line, votes);
          continue;
        }
        if (!images.has(name)) {
          log.error(csv, line, `${name}: image file not found in ${dir}`, 'INPUT_NOT_FOUND');
          continue;
        }
        const verdict = ferplusLabels(votes, options.protocol);
        if (!verdict.ok) {
          log.report({ file: csv, line, reason: `${name}: ${verdict.reason}`, kind: verdict.kind });
          continue;
        }
        yield {
          id: `${folder}/${name}`,
          file: csv,
          line,
          split,
          image: { kind: 'file', path: join(dir, name) },
          labels: { emotion: verdict.distribution, emotion_majority: verdict.majority },
        };
      }
      for (const name of images) {
        if (!labelled.has(name)) log.error(join(dir, name), undefined, 'image has no row in label.csv');
      }
    }
  });
}
