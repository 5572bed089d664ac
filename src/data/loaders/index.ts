/** Layout name → loader, for `facesense prepare --layout`. */
import { OptionError } from '../../core/errors.js';
import type { DatasetLoader, LayoutName } from '../types.js';
import { createCkplusLoader } from './ckplus.js';
import { createFer2013CsvLoader } from './fer2013-csv.js';
import { createFer2013FoldersLoader } from './fer2013-folders.js';
import { createFerplusCsvLoader } from './ferplus-csv.js';
import { createFerplusFoldersLoader, type FerplusProtocol } from './ferplus-folders.js';
import { createFoldersLoader } from './folders.js';
import { createUtkfaceLoader } from './utkface.js';

export const LAYOUTS: readonly LayoutName[] = Object.freeze(['fer2013-csv', 'fer2013-folders', 'ferplus-folders', 'ferplus-csv', 'utkface', 'ckplus', 'folders']);

export function isLayoutName(s: string): s is LayoutName {
  return (LAYOUTS as readonly string[]).includes(s);
}

/** Every option any layout takes; each layout reads the ones it knows. */
export interface AnyLoaderOptions {
  readonly root: string;
  readonly strict?: boolean;
  /** ferplus-csv: Kaggle fer2013.csv with the pixels. */
  readonly fer2013Csv?: string;
  /** utkface: appearance labels TSV. */
  readonly appearance?: string;
  /** utkface: split list (default: the project's data/splits/utkface-part1.json). */
  readonly splitFile?: string;
  /** ferplus-folders, ferplus-csv: how votes become labels (default plurality). */
  readonly ferplusProtocol?: FerplusProtocol;
  /** ckplus: number of subject-independent folds (splits fold0..). */
  readonly folds?: number;
  /** ckplus: fold seed. */
  readonly seed?: number;
}

export async function createLoader(layout: LayoutName, o: AnyLoaderOptions): Promise<DatasetLoader> {
  const base = { root: o.root, strict: o.strict ?? false };
  const protocol = o.ferplusProtocol === undefined ? {} : { protocol: o.ferplusProtocol };
  if (o.ferplusProtocol !== undefined && layout !== 'ferplus-folders' && layout !== 'ferplus-csv') {
    throw new OptionError(`--protocol applies to the FER+ layouts (ferplus-folders, ferplus-csv), not ${layout}`);
  }
  switch (layout) {
    case 'fer2013-csv':
      return createFer2013CsvLoader(base);
    case 'fer2013-folders':
      return createFer2013FoldersLoader(base);
    case 'ferplus-folders':
      return createFerplusFoldersLoader({ ...base, ...protocol });
    case 'ferplus-csv':
      if (o.fer2013Csv === undefined) throw new OptionError('layout ferplus-csv needs the Kaggle fer2013.csv for the pixels (--fer2013-csv FILE)');
      return createFerplusCsvLoader({ ...base, ...protocol, fer2013Csv: o.fer2013Csv });
    case 'utkface':
      return createUtkfaceLoader({
        ...base,
        ...(o.appearance === undefined ? {} : { appearance: o.appearance }),
        ...(o.splitFile === undefined ? {} : { splitFile: o.splitFile }),
      });
    case 'ckplus':
      return createCkplusLoader({ ...base, ...(o.folds === undefined ? {} : { folds: o.folds }), ...(o.seed === undefined ? {} : { seed: o.seed }) });
    case 'folders':
      return createFoldersLoader(base);
  }
}
