/**
 * Generic one-folder-per-class layout: `<root>/<class>/*.{jpg,png,...}`, or with a split level
 * `<root>/<split>/<class>/...` when every top-level folder is a split name (train, val,
 * validation, valid, test, ...). Classes are the union of class folders, sorted by name, so every
 * split indexes them the same way. Without a split level every sample is in split `all`.
 */
import { join } from 'node:path';
import type { DatasetLoader, LoaderOptions, Sample, TargetSpec } from '../types.js';
import { compareSplits, compareStrings, isImageFile, listDir, makeLoader } from './common.js';

/** Folder names recognised as a split level, and the split name each becomes. */
export const SPLIT_FOLDER_NAMES: Readonly<Record<string, string>> = Object.freeze({
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
  testing: 'test',
});

export interface FoldersOptions extends LoaderOptions {
  /** Name of the single class target. @default 'label' */
  readonly target?: string;
}

/**
 * Async because the target's class list (part of `targets`, needed before any sample is listed)
 * comes from the folder names on disk.
 */
export async function createFoldersLoader(options: FoldersOptions): Promise<DatasetLoader> {
  const root = options.root;
  const top = (await listDir(root, 'dataset folder')).filter((e) => e.isDirectory());
  const splitLevel = top.length > 0 && top.every((e) => SPLIT_FOLDER_NAMES[e.name.toLowerCase()] !== undefined);
  const groups: { split: string; dir: string; rel: string }[] = splitLevel
    ? top.map((e) => ({ split: SPLIT_FOLDER_NAMES[e.name.toLowerCase()] ?? e.name, dir: join(root, e.name), rel: `${e.name}/` }))
    : [{ split: 'all', dir: root, rel: '' }];
  const classSet = new Set<string>();
  for (const g of groups) {
    for (const e of await listDir(g.dir)) if (e.isDirectory()) classSet.add(e.name);
  }
  const classes = [...classSet].sort(compareStrings);
  const targetName = options.target ?? 'label';
  const targets: readonly TargetSpec[] = [{ name: targetName, kind: 'class', classes }];

  return makeLoader('folders', root, targets, options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const found: { split: string; name: string; id: string; path: string; label: number }[] = [];
    for (const g of groups) {
      for (const classDir of await listDir(g.dir)) {
        if (!classDir.isDirectory()) {
          if (classDir.isFile()) log.error(join(g.dir, classDir.name), undefined, 'file outside any class folder');
          continue;
        }
        const label = classes.indexOf(classDir.name);
        if (label < 0) {
          log.error(join(g.dir, classDir.name), undefined, 'class folder appeared after the loader was created; skipped');
          continue;
        }
        for (const f of await listDir(join(g.dir, classDir.name))) {
          const path = join(g.dir, classDir.name, f.name);
          if (!f.isFile()) continue;
          if (!isImageFile(f.name)) {
            log.error(path, undefined, 'not an image file (by extension)');
            continue;
          }
          found.push({ split: g.split, name: f.name, id: `${g.rel}${classDir.name}/${f.name}`, path, label });
        }
      }
    }
    // Split, then file name across classes, so a --limit run still sees several classes.
    found.sort((a, b) => compareSplits(a.split, b.split) || compareStrings(a.name, b.name) || compareStrings(a.id, b.id));
    for (const f of found) {
      yield { id: f.id, file: f.path, split: f.split, image: { kind: 'file', path: f.path }, labels: { [targetName]: f.label } };
    }
  });
}
