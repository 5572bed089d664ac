/**
 * FER2013 as the Kaggle image-folder distribution: `{train,test}/<class>/<Usage>_<id>.jpg`. The
 * class comes from the folder, the split from the file-name prefix (the `test` folder mixes
 * PublicTest and PrivateTest). Classes keep Kaggle's CSV order so packs from either FER2013
 * layout are interchangeable.
 */
import { join } from 'node:path';
import type { DatasetLoader, LoaderOptions, Sample } from '../types.js';
import { compareSplits, compareStrings, FER_USAGE_SPLITS, isImageFile, listDir, makeLoader } from './common.js';
import { FER2013_CLASSES, FER2013_TARGETS } from './fer2013-csv.js';

const FILE_NAME = /^([A-Za-z]+)_(\d+)\.[A-Za-z]+$/;

export function createFer2013FoldersLoader(options: LoaderOptions): DatasetLoader {
  const root = options.root;
  return makeLoader('fer2013-folders', root, FER2013_TARGETS, options.strict ?? false, async function* (log): AsyncGenerator<Sample> {
    const found: { split: string; name: string; rel: string; path: string; emotion: number }[] = [];
    for (const top of await listDir(root, 'FER2013 folder')) {
      if (!top.isDirectory()) continue;
      for (const classDir of await listDir(join(root, top.name))) {
        if (!classDir.isDirectory()) continue;
        const emotion = FER2013_CLASSES.indexOf(classDir.name);
        if (emotion < 0) {
          log.error(join(root, top.name, classDir.name), undefined, `unknown emotion folder '${classDir.name}' (expected one of ${FER2013_CLASSES.join(', ')}); its files are skipped`);
          continue;
        }
        for (const entry of await listDir(join(root, top.name, classDir.name))) {
          if (!entry.isFile()) continue;
          const rel = `${top.name}/${classDir.name}/${entry.name}`;
          const path = join(root, top.name, classDir.name, entry.name);
          if (!isImageFile(entry.name)) {
            log.error(path, undefined, 'not an image file');
            continue;
          }
          const usage = FILE_NAME.exec(entry.name)?.[1];
          const split = usage === undefined ? undefined : FER_USAGE_SPLITS[usage];
          if (split === undefined) {
            log.error(path, undefined, `file name does not start with Training_, PublicTest_ or PrivateTest_, so its split is unknown`);
            continue;
          }
          found.push({ split, name: entry.name, rel, path, emotion });
        }
      }
    }
    // Split, then file name: ids are random, so name order mixes the classes (useful with --limit).
    found.sort((a, b) => compareSplits(a.split, b.split) || compareStrings(a.name, b.name) || compareStrings(a.rel, b.rel));
    for (const f of found) {
      yield { id: f.rel, file: f.path, split: f.split, image: { kind: 'file', path: f.path }, labels: { emotion: f.emotion } };
    }
  });
}
