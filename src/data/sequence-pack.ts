/**
 * Sequence packs (docs/pack-format.md, "Sequence packs"): per-frame embeddings and per-frame class
 * scores of an image model for every frame of every labelled sequence of a dataset, grouped by
 * sequence, with each sequence's subject, label and cross-validation fold. The input of the
 * sequence models of paper 004 (per-frame CNN features → LSTM / GRU), trained by
 * `python -m training.sequence`.
 *
 * The frame model is injected (`FrameFn`): the CLI runs the analyzer, tests may run anything.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from '../core/errors.js';
import { NpyWriter } from '../io/npy.js';
import { ProblemLog } from './loaders/common.js';
import type { DatasetLoader, Problem, Sample } from './types.js';

/** What the frame model gives for one frame: its embedding and its class probabilities. */
export interface FrameFeatures {
  readonly embedding: Float32Array;
  readonly scores: Float32Array;
}

/** Runs the frame model on one sample; null when it finds no face (the frame is left out). */
export type FrameFn = (sample: Sample) => Promise<FrameFeatures | null>;

/** One sequence: its frames in order (file order, which is time order in CK+). */
export interface SequenceGroup {
  readonly id: string;
  readonly subject: string;
  readonly split: string;
  readonly label: number;
  readonly samples: readonly Sample[];
}

/** One sequence as written to meta.json: frames `start .. start + length - 1` of the frame arrays. */
export interface SequenceMeta {
  readonly id: string;
  readonly subject: string;
  readonly split: string;
  /** Cross-validation fold from the split name `fold<k>`; null for other splits. */
  readonly fold: number | null;
  readonly label: number;
  readonly start: number;
  readonly length: number;
}

export interface SequencePackMeta {
  readonly format: 'facesense-sequence-pack';
  readonly version: 1;
  readonly source: { readonly layout: string; readonly root: string };
  /** The frame model: its id and checksum (a sequence model only fits the embeddings it was trained on). */
  readonly frameModel: { readonly id: string; readonly sha256?: string; readonly detector: string };
  readonly embedding: { readonly size: number };
  /** Per-frame probabilities of the frame model's class task, in the model's label order. */
  readonly scores: { readonly task: string; readonly labels: readonly string[] };
  /** The dataset's classes (sequence labels index these). */
  readonly classes: readonly string[];
  /** For each dataset class, the indices of the frame model's labels that mean it (by name, through synonyms). */
  readonly scoreSources: readonly (readonly number[])[];
  readonly frames: number;
  readonly folds: number;
  readonly sequences: readonly SequenceMeta[];
  readonly skipped: { readonly count: number; readonly items: readonly Problem[] };
  readonly createdBy: string;
}

export interface SequencePackOptions {
  readonly out: string;
  readonly frameModel: SequencePackMeta['frameModel'];
  readonly embeddingSize: number;
  readonly scores: SequencePackMeta['scores'];
  readonly scoreSources: SequencePackMeta['scoreSources'];
  /** Target of the loader holding the sequence label. @default 'emotion' */
  readonly target?: string;
  /** Frames analysed at once. @default 2 */
  readonly concurrency?: number;
  readonly strict?: boolean;
  readonly createdBy?: string;
  readonly onProgress?: (framesDone: number, framesTotal: number) => void;
}

/** `fold3` → 3; any other split name → null. */
export function foldOfSplit(split: string): number | null {
  const m = /^fold(\d+)$/.exec(split);
  return m === null ? null : Number(m[1]);
}

/**
 * Groups samples by their `sequence` id, keeping first-appearance order of sequences and file order
 * of frames. Every sample needs a sequence, a subject and a class label in `target`; a sequence whose
 * frames disagree on label, subject or split is malformed data (a DatasetError naming the file).
 */
export function groupSequences(samples: readonly Sample[], target: string): SequenceGroup[] {
  const groups = new Map<string, { id: string; subject: string; split: string; label: number; samples: Sample[] }>();
  for (const s of samples) {
    const where = s.image.kind === 'file' ? s.image.path : (s.file ?? s.id);
    const label = s.labels[target];
    if (s.sequence === undefined || s.subject === undefined) {
      throw new DatasetError('DATASET_INVALID', `sample ${s.id} has no sequence or subject id; sequence packs need datasets of labelled sequences (ckplus)`, { source: where });
    }
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0) {
      throw new DatasetError('DATASET_INVALID', `sample ${s.id} has no class label for target "${target}"`, { source: where });
    }
    const g = groups.get(s.sequence);
    if (g === undefined) {
      groups.set(s.sequence, { id: s.sequence, subject: s.subject, split: s.split, label, samples: [s] });
      continue;
    }
    if (g.label !== label || g.subject !== s.subject || g.split !== s.split) {
      throw new DatasetError(
        'DATASET_INVALID',
        `frame ${s.id} of sequence ${g.id} has label ${label}, subject ${s.subject}, split ${s.split}; its earlier frames have ${g.label}, ${g.subject}, ${g.split}`,
        { source: where },
      );
    }
    g.samples.push(s);
  }
  for (const g of groups.values()) g.samples.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return [...groups.values()];
}

/**
 * Runs `frame` over every frame of every sequence and writes `embeddings.npy` (float32 [F, D]),
 * `scores.npy` (float32 [F, K]) and meta.json (written last: its presence marks a complete pack).
 * Frames without a face are left out (listed in `skipped`); a sequence left with none is dropped.
 */
export async function writeSequencePack(loader: DatasetLoader, frame: FrameFn, options: SequencePackOptions): Promise<SequencePackMeta> {
  const target = options.target ?? 'emotion';
  const spec = loader.targets.find((t) => t.name === target);
  if (spec?.kind !== 'class' || spec.classes === undefined) throw new DatasetError('DATASET_INVALID', `layout ${loader.layout} has no class target "${target}"`, { source: loader.root });
  if (options.scoreSources.length !== spec.classes.length) {
    throw new DatasetError('DATASET_INVALID', `scoreSources has ${options.scoreSources.length} rows for ${spec.classes.length} classes`, { source: loader.root });
  }
  const log = new ProblemLog(options.strict ?? false);
  const samples: Sample[] = [];
  for await (const s of loader.samples()) samples.push(s);
  const sequences = groupSequences(samples, target);
  const total = sequences.reduce((n, g) => n + g.samples.length, 0);
  const concurrency = Math.max(1, options.concurrency ?? 2);

  await mkdir(options.out, { recursive: true });
  await rm(join(options.out, 'meta.json'), { force: true });
  const D = options.embeddingSize;
  const K = options.scores.labels.length;
  const emb = await NpyWriter.open(join(options.out, 'embeddings.npy'), 'float32', [D]);
  const sco = await NpyWriter.open(join(options.out, 'scores.npy'), 'float32', [K]);
  const written: SequenceMeta[] = [];
  let frames = 0;
  let done = 0;
  let completed = false;
  try {
    for (const g of sequences) {
      const start = frames;
      // In order, `concurrency` frames in flight; failures become problems, never rejections.
      const run = (s: Sample) =>
        frame(s).then(
          (f) => ({ s, f }),
          (e: unknown) => ({ s, error: e instanceof Error ? e.message : String(e) }),
        );
      const results: Awaited<ReturnType<typeof run>>[] = [];
      for (let i = 0; i < g.samples.length; i += concurrency) results.push(...(await Promise.all(g.samples.slice(i, i + concurrency).map(run))));
      for (const r of results) {
        const where = r.s.image.kind === 'file' ? r.s.image.path : (r.s.file ?? r.s.id);
        done++;
        if ('error' in r) {
          log.error(where, undefined, `cannot analyse frame ${r.s.id}: ${r.error}`);
          continue;
        }
        if (r.f === null) {
          log.exclude(where, undefined, `no face found in frame ${r.s.id}; left out of sequence ${g.id}`);
          continue;
        }
        if (r.f.embedding.length !== D || r.f.scores.length !== K) {
          throw new DatasetError('DATASET_INVALID', `frame model gave ${r.f.embedding.length} features and ${r.f.scores.length} scores, expected ${D} and ${K}`, { source: where });
        }
        await emb.append(r.f.embedding);
        await sco.append(r.f.scores);
        frames++;
      }
      options.onProgress?.(done, total);
      if (frames === start) {
        log.exclude(g.samples[0]?.file ?? g.id, undefined, `sequence ${g.id}: no frame with a face; sequence left out`);
        continue;
      }
      written.push({ id: g.id, subject: g.subject, split: g.split, fold: foldOfSplit(g.split), label: g.label, start, length: frames - start });
    }
    await emb.close();
    await sco.close();
    completed = true;
  } finally {
    if (!completed) {
      for (const w of [emb, sco]) {
        await w.abort();
        await rm(w.path, { force: true });
      }
    }
  }
  const folds = new Set(written.map((s) => s.fold).filter((f) => f !== null)).size;
  const problems = [...loader.problems, ...log.items];
  const meta: SequencePackMeta = {
    format: 'facesense-sequence-pack',
    version: 1,
    source: { layout: loader.layout, root: loader.root },
    frameModel: options.frameModel,
    embedding: { size: D },
    scores: options.scores,
    classes: spec.classes,
    scoreSources: options.scoreSources,
    frames,
    folds,
    sequences: written,
    skipped: { count: problems.length, items: problems },
    createdBy: options.createdBy ?? 'facesense prepare-sequences',
  };
  await writeFile(join(options.out, 'meta.json'), `${JSON.stringify(meta, null, 1)}\n`);
  return meta;
}
