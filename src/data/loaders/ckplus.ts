/**
 * CK+ (extended Cohn-Kanade) in two layouts:
 *  - CK+48: `CK+48/<emotion>/S<subject>_<sequence>_<frame>.png` (last 3 frames of each labelled
 *    sequence, 48x48 gray, no neutral class);
 *  - the original release: `cohn-kanade-images/S005/001/S005_001_00000001.png` with labels in
 *    `Emotion/S005/001/S005_001_00000011_emotion.txt` (a float 0..7: 0 neutral, 1 anger,
 *    2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise). The last `peakFrames` frames
 *    of a labelled sequence get its label, like CK+48; optionally the first `neutralFrames` frames
 *    are neutral. Original frames are 640x490 whole-scene photos: pack them with a face crop.
 *
 * CK+ is evaluated by subject-independent cross-validation, so every sample carries `subject`
 * and `sequence`, and the loader puts whole subjects into class-stratified splits `fold0`..`fold<k-1>`.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OptionError } from '../../core/errors.js';
import type { DatasetLoader, LoaderOptions, Sample, TargetSpec } from '../types.js';
import { compareStrings, isDirectory, listDir, makeLoader, seededShuffle, type ProblemLog } from './common.js';

/** CK+ label codes 0..7 in order. */
export const CKPLUS_LABELS: readonly string[] = Object.freeze(['neutral', 'anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise']);
/** Classes without neutral (CK+48, and the original layout unless neutral frames are taken). */
export const CKPLUS_EMOTIONS: readonly string[] = Object.freeze(CKPLUS_LABELS.slice(1));

export const DEFAULT_CKPLUS_FOLDS = 10;
export const DEFAULT_CKPLUS_SEED = 1;

export interface SubjectFold<T> {
  readonly fold: number;
  readonly subjects: readonly string[];
  readonly train: readonly T[];
  readonly test: readonly T[];
}

/**
 * Assigns whole subjects to k folds, stratified by class. `classCounts` maps each subject to its
 * sample count per class (a single-element vector for no stratification). Subjects go largest
 * first (ties in seeded-shuffle order) to the fold holding the fewest samples of that subject's
 * classes (the greedy step that most reduces the spread of per-class counts), ties to the
 * smaller fold. Without stratification one fold of a small set like CK+ easily ends up with no
 * contempt or sadness at all.
 */
export function assignSubjectFolds(classCounts: ReadonlyMap<string, readonly number[]>, k: number, seed: number): Map<string, number> {
  if (!Number.isInteger(k) || k < 2) throw new OptionError(`folds must be an integer >= 2, got ${k}`);
  if (k > classCounts.size) throw new OptionError(`cannot make ${k} subject-independent folds from ${classCounts.size} subjects`);
  const total = (s: string): number => (classCounts.get(s) ?? []).reduce((a, b) => a + b, 0);
  const order = seededShuffle([...classCounts.keys()].sort(compareStrings), seed);
  // Stable sort: equal-sized subjects keep their shuffled order.
  order.sort((a, b) => total(b) - total(a));
  const width = Math.max(0, ...[...classCounts.values()].map((v) => v.length));
  const perClass = Array.from({ length: k }, () => new Array<number>(width).fill(0));
  const sizes = new Array<number>(k).fill(0);
  const foldOf = new Map<string, number>();
  for (const subject of order) {
    const g = classCounts.get(subject) ?? [];
    const overlap = (f: number): number => g.reduce((sum, n, c) => sum + n * (perClass[f]?.[c] ?? 0), 0);
    let best = 0;
    for (let f = 1; f < k; f++) {
      const d = overlap(f) - overlap(best);
      if (d < 0 || (d === 0 && (sizes[f] ?? 0) < (sizes[best] ?? 0))) best = f;
    }
    foldOf.set(subject, best);
    const row = perClass[best] ?? [];
    g.forEach((n, c) => (row[c] = (row[c] ?? 0) + n));
    sizes[best] = (sizes[best] ?? 0) + total(subject);
  }
  return foldOf;
}

/**
 * Subject-independent k-fold cross-validation: no subject is in both a fold's train and test.
 * With `classOf`, folds are also balanced per class (see assignSubjectFolds).
 */
export function subjectFolds<T extends { readonly subject?: string }>(
  samples: readonly T[],
  k: number,
  seed: number,
  classOf?: (sample: T) => number | undefined,
): SubjectFold<T>[] {
  const counts = new Map<string, number[]>();
  for (const [i, s] of samples.entries()) {
    if (s.subject === undefined) throw new OptionError(`sample ${i} has no subject; subject folds need one on every sample`);
    const c = classOf?.(s) ?? 0;
    const v = counts.get(s.subject) ?? [];
    v[c] = (v[c] ?? 0) + 1;
    counts.set(s.subject, v);
  }
  // Sparse arrays from v[c] = ... have holes; make them dense for the dot products.
  for (const [subject, v] of counts) counts.set(subject, Array.from(v, (n) => n ?? 0));
  const foldOf = assignSubjectFolds(counts, k, seed);
  return Array.from({ length: k }, (_, fold) => ({
    fold,
    subjects: [...foldOf].filter(([, f]) => f === fold).map(([s]) => s).sort(compareStrings),
    train: samples.filter((s) => foldOf.get(s.subject ?? '') !== fold),
    test: samples.filter((s) => foldOf.get(s.subject ?? '') === fold),
  }));
}

export interface CkplusOptions extends LoaderOptions {
  /** `CK+48`, a folder holding it, or the original release's folder. */
  readonly root: string;
  /** Number of subject-independent folds written as splits fold0..; 1 puts everything in `all`. @default 10 */
  readonly folds?: number;
  /** Seed of the fold assignment. @default 1 */
  readonly seed?: number;
  /**
   * Original layout: labelled frames per sequence, from the end; `all` labels every frame after
   * the neutral ones (sequence models read the whole onset-to-apex clip). @default 3
   */
  readonly peakFrames?: number | 'all';
  /** Original layout: first frames of each labelled sequence taken as neutral. @default 0 */
  readonly neutralFrames?: number;
}

interface Found {
  readonly id: string;
  readonly path: string;
  readonly subject: string;
  readonly sequence: string;
  readonly label: number;
  /** Where the label came from (the emotion .txt for the original layout). */
  readonly labelFile: string;
}

const CK48_NAME = /^(S\d+)_(\d+)_(\d+)\.png$/i;

async function listCk48(dir: string, classes: readonly string[], log: ProblemLog): Promise<Found[]> {
  const found: Found[] = [];
  for (const classDir of await listDir(dir, 'CK+48 folder')) {
    if (!classDir.isDirectory()) continue;
    const label = classes.indexOf(classDir.name);
    if (label < 0) {
      log.error(join(dir, classDir.name), undefined, `unknown emotion folder '${classDir.name}' (expected one of ${classes.join(', ')}); its files are skipped`);
      continue;
    }
    for (const f of await listDir(join(dir, classDir.name))) {
      if (!f.isFile()) continue;
      const path = join(dir, classDir.name, f.name);
      const m = CK48_NAME.exec(f.name);
      if (m === null) {
        log.error(path, undefined, 'file name is not S<subject>_<sequence>_<frame>.png');
        continue;
      }
      const subject = m[1] ?? '';
      found.push({ id: `${classDir.name}/${f.name}`, path, subject, sequence: `${subject}_${m[2] ?? ''}`, label, labelFile: path });
    }
  }
  return found;
}

async function firstDir(root: string, candidates: readonly string[]): Promise<string | undefined> {
  for (const c of candidates) if (await isDirectory(join(root, c))) return join(root, c);
  return undefined;
}

async function listOriginal(imagesDir: string, emotionDir: string, options: CkplusOptions, log: ProblemLog): Promise<Found[]> {
  const peak = options.peakFrames ?? 3;
  const neutral = options.neutralFrames ?? 0;
  if (peak !== 'all' && (!Number.isInteger(peak) || peak < 1)) throw new OptionError(`peakFrames must be an integer >= 1 or 'all', got ${peak}`);
  if (!Number.isInteger(neutral) || neutral < 0) throw new OptionError(`neutralFrames must be an integer >= 0, got ${neutral}`);
  // Label index = CK+ code with neutral in the class list, code - 1 without it.
  const offset = neutral > 0 ? 0 : 1;
  const found: Found[] = [];
  for (const subj of await listDir(emotionDir, 'CK+ Emotion folder')) {
    if (!subj.isDirectory()) continue;
    for (const seq of await listDir(join(emotionDir, subj.name))) {
      if (!seq.isDirectory()) continue;
      const labelFiles = (await listDir(join(emotionDir, subj.name, seq.name))).filter((e) => e.isFile() && e.name.endsWith('_emotion.txt'));
      const first = labelFiles[0];
      if (first === undefined) continue; // unlabelled sequence: CK+ labels only 327 of 593
      const labelFile = join(emotionDir, subj.name, seq.name, first.name);
      if (labelFiles.length > 1) log.error(join(emotionDir, subj.name, seq.name), undefined, `${labelFiles.length} emotion files; using ${first.name}`);
      const text = (await readFile(labelFile, 'utf8')).trim();
      const code = Number(text);
      if (text === '' || !Number.isInteger(code) || code < 0 || code >= CKPLUS_LABELS.length) {
        log.error(labelFile, 1, `emotion label ${JSON.stringify(text)} is not a whole number 0..7`);
        continue;
      }
      if (code === 0 && offset === 1) {
        log.error(labelFile, 1, 'sequence labelled neutral (0) but neutral frames are not being taken');
        continue;
      }
      const frameDir = join(imagesDir, subj.name, seq.name);
      if (!(await isDirectory(frameDir))) {
        log.error(labelFile, undefined, `no image sequence at ${frameDir}`, 'INPUT_NOT_FOUND');
        continue;
      }
      const frames = (await listDir(frameDir)).filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.png')).map((e) => e.name);
      const wanted = (peak === 'all' ? 1 : peak) + neutral;
      if (frames.length < wanted) {
        log.error(frameDir, undefined, `${frames.length} frames, fewer than the ${wanted} requested (peak ${peak} + neutral ${neutral})`);
        continue;
      }
      const sequence = `${subj.name}_${seq.name}`;
      const take = (name: string, label: number): Found => ({
        id: `${subj.name}/${seq.name}/${name}`,
        path: join(frameDir, name),
        subject: subj.name,
        sequence,
        label,
        labelFile,
      });
      for (const name of frames.slice(0, neutral)) found.push(take(name, 0));
      for (const name of frames.slice(peak === 'all' ? neutral : frames.length - peak)) found.push(take(name, code - offset));
    }
  }
  return found;
}

export function ckplusTargets(withNeutral: boolean): readonly TargetSpec[] {
  return [{ name: 'emotion', kind: 'class', classes: withNeutral ? CKPLUS_LABELS : CKPLUS_EMOTIONS }];
}

export function createCkplusLoader(options: CkplusOptions): DatasetLoader {
  const root = options.root;
  const withNeutral = (options.neutralFrames ?? 0) > 0;
  return makeLoader('ckplus', root, ckplusTargets(withNeutral), options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const imagesDir = await firstDir(root, ['cohn-kanade-images', 'extended-cohn-kanade-images/cohn-kanade-images']);
    let found: Found[];
    if (imagesDir !== undefined) {
      const emotionDir = (await firstDir(root, ['Emotion', 'Emotion_labels/Emotion'])) ?? join(root, 'Emotion');
      found = await listOriginal(imagesDir, emotionDir, options, log);
    } else {
      found = await listCk48((await firstDir(root, ['CK+48'])) ?? root, CKPLUS_EMOTIONS, log);
    }
    found.sort((a, b) => compareStrings(a.sequence, b.sequence) || compareStrings(a.path, b.path));
    const k = options.folds ?? DEFAULT_CKPLUS_FOLDS;
    const nClasses = ckplusTargets(withNeutral)[0]?.classes?.length ?? 0;
    const counts = new Map<string, number[]>();
    for (const f of found) {
      const v = counts.get(f.subject) ?? new Array<number>(nClasses).fill(0);
      v[f.label] = (v[f.label] ?? 0) + 1;
      counts.set(f.subject, v);
    }
    const foldOf = k <= 1 || found.length === 0 ? undefined : assignSubjectFolds(counts, k, options.seed ?? DEFAULT_CKPLUS_SEED);
    for (const f of found) {
      const fold = foldOf?.get(f.subject);
      yield {
        id: f.id,
        file: f.labelFile,
        split: fold === undefined ? 'all' : `fold${fold}`,
        image: { kind: 'file', path: f.path },
        labels: { emotion: f.label },
        subject: f.subject,
        sequence: f.sequence,
      };
    }
  });
}
