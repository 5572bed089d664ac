/**
 * UTKFace "aligned & cropped" faces: `<age>_<gender>_<race>_<datetime>.jpg.chip.jpg`.
 * Targets: age (regression, years), gender (0 male, 1 female), ethnicity (the file name's race
 * field: White, Black, Asian, Indian, Others — paper 000's 5-class scheme); with an appearance TSV
 * also glasses, beard and moustache.
 *
 * UTKFace has no official split, so the split is a stored file list (data/splits/utkface-part1.json,
 * made by `generateUtkfaceSplit`, rerun with `node dist/src/cli/split.js`): results stay comparable
 * across machines and runs. The appearance labels join by file name, so each labelled face falls
 * in the same split as for the demographic tasks.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bandLabel, FAIRFACE_AGE_BANDS } from '../../core/age-bands.js';
import { DatasetError } from '../../core/errors.js';
import type { DatasetLoader, LabelValue, LoaderOptions, Sample, SampleGroups, TargetSpec } from '../types.js';
import { compareSplits, compareStrings, findUp, isDirectory, isImageFile, listDir, makeLoader, parseNonNegativeInt, ProblemLog, readLines, seededShuffle } from './common.js';

export const UTK_GENDERS: readonly string[] = Object.freeze(['male', 'female']);
export const UTK_RACES: readonly string[] = Object.freeze(['White', 'Black', 'Asian', 'Indian', 'Others']);
export const APPEARANCE_CLASSES = Object.freeze({
  glasses: Object.freeze(['none', 'eyeglasses', 'sunglasses']),
  beard: Object.freeze(['none', 'light', 'heavy']),
  moustache: Object.freeze(['none', 'light', 'heavy']),
} as const);
type AppearanceTarget = keyof typeof APPEARANCE_CLASSES;
const APPEARANCE_TARGETS = Object.keys(APPEARANCE_CLASSES) as AppearanceTarget[];

export const UTK_TARGETS: readonly TargetSpec[] = Object.freeze([
  { name: 'age', kind: 'regression' },
  { name: 'gender', kind: 'class', classes: UTK_GENDERS },
  { name: 'ethnicity', kind: 'class', classes: UTK_RACES },
]);

/**
 * Median eye centres of the part-1 chips as fractions of the chip (YuNet on every 20th of the
 * 9,780 chips, 488 of 489 found): the dataset's own alignment. `facesense prepare` aligns from
 * these where the detector finds no face in a chip, so such faces keep the same framing.
 */
export const UTK_CHIP_EYES = Object.freeze({ rightEye: Object.freeze({ x: 0.289, y: 0.294 }), leftEye: Object.freeze({ x: 0.684, y: 0.299 }) });

/** The split list shipped with the project, relative to the package root. */
export const DEFAULT_UTK_SPLIT_FILE = 'data/splits/utkface-part1.json';
export const DEFAULT_UTK_SPLIT_SEED = 2017;

export interface UtkName {
  readonly age: number;
  readonly gender: number;
  readonly race: number;
}

const NAME = /^(\d+)_(\d+)_(\d+)_(\d+)\./;

/** Parses a UTKFace file name; a string is the reason it is malformed. */
export function parseUtkName(name: string): UtkName | string {
  const m = NAME.exec(name);
  if (m === null) {
    const fields = (name.split('.')[0] ?? '').split('_').length;
    return `malformed UTKFace name: expected <age>_<gender>_<race>_<datetime>.jpg.chip.jpg, found ${fields} field(s)${fields === 3 ? ' (one label missing)' : ''}`;
  }
  const age = Number.parseInt(m[1] ?? '', 10);
  const gender = Number.parseInt(m[2] ?? '', 10);
  const race = Number.parseInt(m[3] ?? '', 10);
  if (age > 130) return `implausible age ${age} in file name`;
  if (gender >= UTK_GENDERS.length) return `unknown gender ${gender} in file name (expected 0 male or 1 female)`;
  if (race >= UTK_RACES.length) return `unknown race ${race} in file name (expected 0..${UTK_RACES.length - 1})`;
  return { age, gender, race };
}

/** FairFace age group of an age (finer where faces change fastest). */
export function ageBand(age: number): string {
  return bandLabel(age, FAIRFACE_AGE_BANDS);
}

export interface UtkSplitFile {
  readonly format: 'facesense-split';
  readonly version: 1;
  readonly dataset: string;
  readonly seed: number;
  readonly ratios: Readonly<Record<string, number>>;
  readonly generator: string;
  readonly counts: Readonly<Record<string, number>>;
  /** Images left out because their names carry no valid labels, with the reason. */
  readonly excluded?: readonly { readonly file: string; readonly reason: string }[];
  /** Appearance-labelled faces per split (informative; the labels join by file name). */
  readonly appearanceCounts?: Readonly<Record<string, number>>;
  readonly splits: Readonly<Record<string, readonly string[]>>;
}

/**
 * A seeded 80/10/10 split of file names. Names that `parseUtkName` rejects are left out (listed in
 * `excluded`); the rest are sorted first, so the result depends only on the set of names and the
 * seed, not on directory order. UTKFace has no subject ids, so the split is by image (the best the
 * data allows).
 */
export function generateUtkfaceSplit(names: readonly string[], seed = DEFAULT_UTK_SPLIT_SEED, dataset = 'utkface/crop_part1'): UtkSplitFile {
  const unique = [...new Set(names)].sort(compareStrings);
  const excluded: { file: string; reason: string }[] = [];
  const valid: string[] = [];
  for (const name of unique) {
    const parsed = parseUtkName(name);
    if (typeof parsed === 'string') excluded.push({ file: name, reason: parsed });
    else valid.push(name);
  }
  const shuffled = seededShuffle(valid, seed);
  const nTrain = Math.round(shuffled.length * 0.8);
  const nVal = Math.round(shuffled.length * 0.1);
  // Lists stay in shuffled order: the loader yields in list order, so `--limit` runs get a
  // random sample instead of the alphabetically first (i.e. youngest-first) faces.
  const splits = {
    train: shuffled.slice(0, nTrain),
    val: shuffled.slice(nTrain, nTrain + nVal),
    test: shuffled.slice(nTrain + nVal),
  };
  return {
    format: 'facesense-split',
    version: 1,
    dataset,
    seed,
    ratios: { train: 0.8, val: 0.1, test: 0.1 },
    generator:
      'generateUtkfaceSplit (src/data/loaders/utkface.ts; rerun: node dist/src/cli/split.js --root DIR): drop names without valid labels, sort, mulberry32-seeded Fisher-Yates shuffle, first 80% train, next 10% val, rest test (lists kept in shuffled order)',
    counts: { train: splits.train.length, val: splits.val.length, test: splits.test.length },
    excluded,
    splits,
  };
}

/** Counts the names of `labelled` per split of `split` (names in no split are not counted). */
export function countPerSplit(split: UtkSplitFile, labelled: Iterable<string>): Record<string, number> {
  const where = new Map<string, string>();
  for (const [name, list] of Object.entries(split.splits)) for (const file of list) where.set(file, name);
  const counts: Record<string, number> = Object.fromEntries(Object.keys(split.splits).map((s) => [s, 0]));
  for (const file of labelled) {
    const s = where.get(file);
    if (s !== undefined) counts[s] = (counts[s] ?? 0) + 1;
  }
  return counts;
}

/**
 * Writes the split list for every image in `imageDir` (e.g. /data/utkface/crop_part1). With an
 * appearance TSV, also records how many of its labelled faces fall in each split.
 */
export async function writeUtkfaceSplitFile(imageDir: string, outFile: string, options: { seed?: number; appearance?: string } = {}): Promise<UtkSplitFile> {
  const names = (await listDir(imageDir, 'UTKFace folder')).filter((e) => e.isFile() && isImageFile(e.name)).map((e) => e.name);
  let split = generateUtkfaceSplit(names, options.seed ?? DEFAULT_UTK_SPLIT_SEED);
  if (options.appearance !== undefined) {
    const rows = await readAppearanceTsv(options.appearance, new ProblemLog(true));
    // Keep `splits` last in the file: the long lists go at the end.
    const { splits, ...head } = split;
    split = { ...head, appearanceCounts: countPerSplit(split, rows.keys()), splits };
  }
  await mkdir(dirname(outFile), { recursive: true });
  await writeFile(`${outFile}.tmp`, `${JSON.stringify(split, null, 1)}\n`);
  await rename(`${outFile}.tmp`, outFile);
  return split;
}

export async function readUtkSplitFile(path: string): Promise<UtkSplitFile> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new DatasetError('INPUT_NOT_FOUND', 'cannot read UTKFace split file (JSON)', { source: path, cause });
  }
  const splits = (parsed as { splits?: unknown } | null)?.splits;
  if (typeof splits !== 'object' || splits === null || !Object.values(splits).every((v) => Array.isArray(v) && v.every((n) => typeof n === 'string'))) {
    throw new DatasetError('DATASET_INVALID', 'split file has no "splits": { <split>: [file names] }', { source: path });
  }
  return parsed as UtkSplitFile;
}

/** Finds the project's default split file from this module's location. */
export async function defaultUtkSplitFile(): Promise<string> {
  const found = await findUp(dirname(fileURLToPath(import.meta.url)), DEFAULT_UTK_SPLIT_FILE);
  if (found === undefined) throw new DatasetError('INPUT_NOT_FOUND', `cannot find ${DEFAULT_UTK_SPLIT_FILE} above this package's modules; pass splitFile`);
  return found;
}

interface AppearanceRow {
  readonly line: number;
  readonly labels: Readonly<Record<AppearanceTarget, number>>;
  /** The TSV's `unsure` flag (a label is a guess, or two annotators disagreed); false without the column. */
  readonly unsure: boolean;
}

/**
 * Reads the appearance TSV (file, glasses, beard, moustache, unsure, annotators), by file name.
 * `unsure` rows keep their labels (the merged file's best guess: the first annotator's); the
 * loader marks them in the sample's groups so evaluation can report confident rows apart.
 */
export async function readAppearanceTsv(path: string, log: ProblemLog): Promise<Map<string, AppearanceRow>> {
  const rows = new Map<string, AppearanceRow>();
  let cols: Record<'file' | AppearanceTarget, number> | undefined;
  let unsureCol = -1;
  for await (const { line, text } of readLines(path, 'appearance TSV')) {
    const cells = text.split('\t').map((c) => c.trim());
    if (line === 1) {
      const at = (n: string): number => cells.indexOf(n);
      cols = { file: at('file'), glasses: at('glasses'), beard: at('beard'), moustache: at('moustache') };
      const missing = Object.entries(cols).filter(([, i]) => i < 0).map(([n]) => n);
      if (missing.length > 0) throw new DatasetError('DATASET_INVALID', `line 1: header lacks column(s) ${missing.join(', ')}`, { source: path });
      unsureCol = at('unsure');
      continue;
    }
    if (text.trim() === '' || cols === undefined) continue;
    const file = cells[cols.file] ?? '';
    const labels: Partial<Record<AppearanceTarget, number>> = {};
    let bad: string | undefined;
    for (const t of APPEARANCE_TARGETS) {
      const raw = cells[cols[t]] ?? '';
      const v = parseNonNegativeInt(raw);
      if (v === undefined || v >= APPEARANCE_CLASSES[t].length) {
        bad = `${t} is ${JSON.stringify(raw)} (expected 0..${APPEARANCE_CLASSES[t].length - 1})`;
        break;
      }
      labels[t] = v;
    }
    const unsureRaw = unsureCol < 0 ? '0' : (cells[unsureCol] ?? '');
    if (bad === undefined && unsureRaw !== '0' && unsureRaw !== '1') bad = `unsure is ${JSON.stringify(unsureRaw)} (expected 0 or 1)`;
    if (file === '') bad = 'empty file name';
    else if (rows.has(file)) bad = `duplicate row for ${file}`;
    if (bad !== undefined) {
      log.error(path, line, bad);
      continue;
    }
    rows.set(file, { line, labels: labels as Record<AppearanceTarget, number>, unsure: unsureRaw === '1' });
  }
  return rows;
}

export interface UtkfaceOptions extends LoaderOptions {
  /** Folder of images, or a folder holding `crop_part1/`. */
  readonly root: string;
  /** Split list; defaults to the project's data/splits/utkface-part1.json. */
  readonly splitFile?: string;
  /** Optional appearance labels TSV joined by file name. */
  readonly appearance?: string;
}

export function utkfaceTargets(withAppearance: boolean): readonly TargetSpec[] {
  return withAppearance ? [...UTK_TARGETS, ...APPEARANCE_TARGETS.map((name): TargetSpec => ({ name, kind: 'class', classes: APPEARANCE_CLASSES[name] }))] : UTK_TARGETS;
}

export function createUtkfaceLoader(options: UtkfaceOptions): DatasetLoader {
  const targets = utkfaceTargets(options.appearance !== undefined);
  return makeLoader('utkface', options.root, targets, options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const imageDir = (await isDirectory(join(options.root, 'crop_part1'))) ? join(options.root, 'crop_part1') : options.root;
    const splitPath = options.splitFile ?? (await defaultUtkSplitFile());
    const splitFile = await readUtkSplitFile(splitPath);
    const onDisk = new Set((await listDir(imageDir, 'UTKFace folder')).filter((e) => e.isFile() && isImageFile(e.name)).map((e) => e.name));
    const appearance = options.appearance === undefined ? undefined : await readAppearanceTsv(options.appearance, log);

    const listed = new Map<string, string>();
    const splitNames = Object.keys(splitFile.splits).sort(compareSplits);
    for (const split of splitNames) {
      for (const name of splitFile.splits[split] ?? []) {
        const earlier = listed.get(name);
        if (earlier !== undefined) {
          log.error(splitPath, undefined, `${name} is listed in both ${earlier} and ${split}; kept in ${earlier}`);
          continue;
        }
        listed.set(name, split);
      }
    }
    for (const name of [...onDisk].sort(compareStrings)) {
      if (listed.has(name)) continue;
      // The generator leaves malformed names out of the lists: report why, not just "unlisted".
      const parsed = parseUtkName(name);
      if (typeof parsed === 'string') log.error(join(imageDir, name), undefined, parsed);
      else log.exclude(join(imageDir, name), undefined, `not in the split list ${splitPath}`);
    }
    if (appearance !== undefined && options.appearance !== undefined) {
      for (const [name, row] of appearance) {
        if (!onDisk.has(name)) log.error(options.appearance, row.line, `${name}: no such image in ${imageDir}`, 'INPUT_NOT_FOUND');
      }
    }

    for (const split of splitNames) {
      for (const name of splitFile.splits[split] ?? []) {
        if (listed.get(name) !== split) continue;
        const path = join(imageDir, name);
        if (!onDisk.has(name)) {
          log.error(path, undefined, `listed in ${splitPath} (${split}) but not found`, 'INPUT_NOT_FOUND');
          continue;
        }
        const parsed = parseUtkName(name);
        if (typeof parsed === 'string') {
          log.error(path, undefined, parsed);
          continue;
        }
        const labels: Record<string, LabelValue> = { age: parsed.age, gender: parsed.gender, ethnicity: parsed.race };
        const extra = appearance?.get(name);
        if (extra !== undefined) Object.assign(labels, extra.labels);
        const groups: SampleGroups = {
          gender: UTK_GENDERS[parsed.gender] ?? '?',
          ethnicity: UTK_RACES[parsed.race] ?? '?',
          ageBand: ageBand(parsed.age),
          ...(extra === undefined ? {} : { appearanceUnsure: extra.unsure ? 'yes' : 'no' }),
        };
        yield { id: name, file: path, split, image: { kind: 'file', path }, labels, groups };
      }
    }
  });
}
