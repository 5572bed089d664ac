/**
 * Plain data shared by the dataset loaders and the pack writer. A loader turns one on-disk layout
 * into `Sample`s; the pack writer never needs to know which layout they came from.
 */
import type { Image8 } from '../core/types.js';

/** Target kinds of the pack format (docs/pack-format.md). */
export type TargetKind = 'class' | 'distribution' | 'multilabel' | 'regression';

/** One prediction target as written to `meta.json` → `targets[]`. */
export interface TargetSpec {
  readonly name: string;
  readonly kind: TargetKind;
  /** Class names, in index order, for `class`, `distribution` and `multilabel` targets. */
  readonly classes?: readonly string[];
}

/** Where a sample's pixels come from. Files are decoded lazily, by the pack writer. */
export type SampleImage =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'encoded'; readonly bytes: Uint8Array }
  | { readonly kind: 'pixels'; readonly pixels: Image8 };

/**
 * A label value: a class index (`class`), a number (`regression`) or one number per class
 * (`distribution`, `multilabel`). A target the sample has no label for is simply absent.
 */
export type LabelValue = number | readonly number[];

/** Demographic groups, for slicing metrics; never used as inputs. */
export interface SampleGroups {
  readonly gender?: string;
  readonly ethnicity?: string;
  readonly ageBand?: string;
  /** Appearance-labelled faces: whether the annotators flagged a label as a guess or disagreed. */
  readonly appearanceUnsure?: 'yes' | 'no';
}

export interface Sample {
  /** Unique within the dataset, stable across runs (a relative path or an image name). */
  readonly id: string;
  /** File the sample (or its label row) came from, for error reports. */
  readonly file?: string;
  /** 1-based line of the label row in `file`, when the label came from a text file. */
  readonly line?: number;
  /** Split name: `train`, `val`, `test`, `all`, or `fold<i>` for cross-validation folds. */
  readonly split: string;
  readonly image: SampleImage;
  readonly labels: Readonly<Record<string, LabelValue>>;
  readonly groups?: SampleGroups;
  /** Person id, for subject-independent splits (CK+). */
  readonly subject?: string;
  /** Sequence id (subject + sequence), for sequence models (CK+). */
  readonly sequence?: string;
}

/**
 * Something wrong with, or deliberately left out of, a dataset. `error` problems are malformed
 * or missing data (fatal under `strict`); `excluded` ones are skipped by the dataset's protocol
 * (e.g. FER+ images whose majority vote is "not a face") and never fatal.
 */
export interface Problem {
  readonly file: string;
  readonly line?: number;
  readonly reason: string;
  readonly kind: 'error' | 'excluded';
  readonly code?: 'DATASET_INVALID' | 'INPUT_NOT_FOUND';
}

export type LayoutName = 'fer2013-csv' | 'fer2013-folders' | 'ferplus-folders' | 'ferplus-csv' | 'utkface' | 'ckplus' | 'folders';

export interface LoaderOptions {
  /** Dataset root as the user gave it. */
  readonly root: string;
  /** Throw a DatasetError on the first `error` problem instead of collecting it. */
  readonly strict?: boolean;
}

/**
 * One dataset layout. `samples()` lists lazily; every call starts a fresh listing and a fresh
 * `problems` list, which holds what the listing so far has skipped. Structural failures (root
 * missing, header unreadable) throw a DatasetError whatever `strict` says: nothing can be listed.
 */
export interface DatasetLoader {
  readonly layout: LayoutName;
  readonly root: string;
  readonly targets: readonly TargetSpec[];
  samples(): AsyncIterable<Sample>;
  readonly problems: readonly Problem[];
}
