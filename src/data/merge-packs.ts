/**
 * Merges training packs into one (the joint multi-task network of papers 000 and 003: FER+
 * expression rows and UTKFace age/gender/ethnicity rows in one training set). The packs must
 * share image size, channels and face framing; each output split holds the rows of every pack
 * that has it, in pack order, and every row carries every target of the union — a target a pack
 * lacks is written as missing (class −1, regression NaN, distribution / multilabel rows of NaN),
 * so the trainer's masked losses train only the heads each row has labels for.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from '../core/errors.js';
import { readNpy, writeNpy, type NpyArray } from '../io/npy.js';
import type { PackMeta, SplitMeta } from './pack.js';
import type { TargetSpec } from './types.js';

export interface MergedPackMeta extends Omit<PackMeta, 'source'> {
  readonly source: { readonly layout: 'merged'; readonly packs: readonly { readonly dir: string; readonly layout: string; readonly root: string }[] };
}

/** Largest difference in eye framing (fractions of the crop) still treated as the same crop. */
const FRAMING_TOLERANCE = 0.005;

async function readMeta(dir: string): Promise<PackMeta> {
  const path = join(dir, 'meta.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new DatasetError('INPUT_NOT_FOUND', 'not a pack (no meta.json: missing or unfinished)', { source: path, cause });
  }
  let meta: PackMeta;
  try {
    meta = JSON.parse(text) as PackMeta;
  } catch (cause) {
    throw new DatasetError('DATASET_INVALID', 'meta.json is not valid JSON', { source: path, cause });
  }
  if (meta.format !== 'facesense-pack' || meta.version !== 1) throw new DatasetError('DATASET_INVALID', 'meta.json is not a facesense pack (format 1)', { source: path });
  return meta;
}

/**
 * The crop a model trained on the pack needs (as training/data.py `Pack.crop` reads it): aligned
 * with the pack's eye framing, whether the pack aligned faces itself or measured the framing of a
 * pre-cropped dataset.
 */
export function packFraming(meta: PackMeta): { eyeDistance: number; eyeY: number } | undefined {
  const pre = meta.preprocessing as PackMeta['preprocessing'] & { framing?: { eyeDistance?: number; eyeY?: number } };
  const crop = pre.crop;
  if (crop.mode === 'aligned' && typeof crop.eyeDistance === 'number' && typeof crop.eyeY === 'number') return { eyeDistance: crop.eyeDistance, eyeY: crop.eyeY };
  if (crop.mode === 'none' && typeof pre.framing?.eyeDistance === 'number' && typeof pre.framing.eyeY === 'number') return { eyeDistance: pre.framing.eyeDistance, eyeY: pre.framing.eyeY };
  return undefined;
}

function sameTarget(a: TargetSpec, b: TargetSpec): boolean {
  return a.kind === b.kind && JSON.stringify(a.classes ?? []) === JSON.stringify(b.classes ?? []);
}

/** Rows of `target` for `n` samples with no label. */
function missing(target: TargetSpec, n: number): NpyArray {
  if (target.kind === 'class') return { dtype: 'int64', shape: [n], data: new BigInt64Array(n).fill(-1n) };
  if (target.kind === 'regression') return { dtype: 'float32', shape: [n], data: new Float32Array(n).fill(Number.NaN) };
  const k = target.classes?.length ?? 0;
  return { dtype: 'float32', shape: [n, k], data: new Float32Array(n * k).fill(Number.NaN) };
}

function concat(parts: readonly NpyArray[], what: string): NpyArray {
  const first = parts[0]!;
  const tail = first.shape.slice(1);
  for (const p of parts) {
    if (p.dtype !== first.dtype || JSON.stringify(p.shape.slice(1)) !== JSON.stringify(tail)) {
      throw new DatasetError('DATASET_INVALID', `${what}: packs disagree on dtype or row shape (${first.dtype} [${first.shape.join(', ')}] vs ${p.dtype} [${p.shape.join(', ')}])`);
    }
  }
  const rows = parts.reduce((s, p) => s + (p.shape[0] ?? 0), 0);
  const length = parts.reduce((s, p) => s + p.data.length, 0);
  if (first.dtype === 'int64') {
    const out = new BigInt64Array(length);
    let at = 0;
    for (const p of parts) { out.set(p.data as BigInt64Array, at); at += p.data.length; }
    return { dtype: 'int64', shape: [rows, ...tail], data: out };
  }
  const out = first.dtype === 'uint8' ? new Uint8Array(length) : new Float32Array(length);
  let at = 0;
  for (const p of parts) { (out as Uint8Array | Float32Array).set(p.data as Uint8Array & Float32Array, at); at += p.data.length; }
  return { dtype: first.dtype, shape: [rows, ...tail], data: out } as NpyArray;
}

/** Counts per class, rows without a label, and regression ranges of one merged target column. */
function describe(target: TargetSpec, a: NpyArray): { perClass?: Record<string, number>; missing: number; regression?: { min: number; max: number; mean: number } } {
  const rows = a.shape[0] ?? 0;
  if (target.kind === 'class') {
    const counts = new Array<number>(target.classes?.length ?? 0).fill(0);
    let miss = 0;
    for (const v of a.data as BigInt64Array) {
      if (v < 0n) miss++;
      else counts[Number(v)] = (counts[Number(v)] ?? 0) + 1;
    }
    return { perClass: Object.fromEntries((target.classes ?? []).map((c, i) => [c, counts[i] ?? 0])), missing: miss };
  }
  if (target.kind === 'regression') {
    let miss = 0, min = Infinity, max = -Infinity, sum = 0;
    for (const v of a.data as Float32Array) {
      if (Number.isNaN(v)) { miss++; continue; }
      min = Math.min(min, v); max = Math.max(max, v); sum += v;
    }
    const n = rows - miss;
    return { missing: miss, ...(n > 0 ? { regression: { min, max, mean: Math.round((sum / n) * 1000) / 1000 } } : {}) };
  }
  const k = a.shape[1] ?? 1;
  let miss = 0;
  for (let r = 0; r < rows; r++) if (Number.isNaN((a.data as Float32Array)[r * k])) miss++;
  return { missing: miss };
}

/** Writes the merge of `dirs` into `out` and returns its meta (also written as `out/meta.json`, last). */
export async function mergePacks(dirs: readonly string[], out: string): Promise<MergedPackMeta> {
  if (dirs.length < 2) throw new DatasetError('DATASET_INVALID', 'merging needs at least two packs');
  const metas = await Promise.all(dirs.map(readMeta));
  const first = metas[0]!;
  const framing = packFraming(first);
  metas.forEach((m, i) => {
    const dir = dirs[i]!;
    if (JSON.stringify(m.image) !== JSON.stringify(first.image)) {
      throw new DatasetError('DATASET_INVALID', `images are ${m.image.width}×${m.image.height}×${m.image.channels}, the first pack's ${first.image.width}×${first.image.height}×${first.image.channels}: prepare both with the same --size and --channels`, { source: dir });
    }
    const f = packFraming(m);
    const agree = f === undefined ? framing === undefined
      : framing !== undefined && Math.abs(f.eyeDistance - framing.eyeDistance) <= FRAMING_TOLERANCE && Math.abs(f.eyeY - framing.eyeY) <= FRAMING_TOLERANCE;
    if (!agree) {
      throw new DatasetError('DATASET_INVALID', `face framing ${JSON.stringify(f ?? 'unknown')} differs from the first pack's ${JSON.stringify(framing ?? 'unknown')}: prepare with --eye-distance and --eye-y set to the first pack's framing`, { source: dir });
    }
  });

  const targets: TargetSpec[] = [];
  metas.forEach((m, i) => {
    for (const t of m.targets) {
      const known = targets.find((u) => u.name === t.name);
      if (known === undefined) targets.push(t);
      else if (!sameTarget(known, t)) throw new DatasetError('DATASET_INVALID', `target "${t.name}" is ${t.kind} ${JSON.stringify(t.classes ?? [])} here but ${known.kind} ${JSON.stringify(known.classes ?? [])} in an earlier pack`, { source: dirs[i]! });
    }
  });

  await mkdir(out, { recursive: true });
  await rm(join(out, 'meta.json'), { force: true });
  const splitNames = [...new Set(metas.flatMap((m) => Object.keys(m.splits)))];
  const splits: Record<string, SplitMeta> = {};
  for (const split of splitNames) {
    const having = metas.map((m, i) => ({ m, dir: dirs[i]! })).filter(({ m }) => m.splits[split] !== undefined);
    const xs = await Promise.all(having.map(({ dir }) => readNpy(join(dir, `${split}_x.npy`))));
    xs.forEach((x, i) => {
      const expected = having[i]!.m.splits[split]!.count;
      if (x.shape[0] !== expected) throw new DatasetError('DATASET_INVALID', `${split}_x.npy has ${x.shape[0]} rows, meta.json says ${expected}`, { source: having[i]!.dir });
    });
    const rows = xs.reduce((sum, x) => sum + (x.shape[0] ?? 0), 0);
    await writeNpy(join(out, `${split}_x.npy`), concat(xs, `${split}_x.npy`));
    const perClass: Record<string, Record<string, number>> = {};
    const miss: Record<string, number> = {};
    const regression: Record<string, { min: number; max: number; mean: number }> = {};
    for (const t of targets) {
      const parts = await Promise.all(having.map(async ({ m, dir }, i) =>
        m.targets.some((u) => u.name === t.name) ? readNpy(join(dir, `${split}_${t.name}.npy`)) : missing(t, xs[i]!.shape[0] ?? 0)));
      const merged = concat(parts, `${split}_${t.name}.npy`);
      if (merged.shape[0] !== rows) throw new DatasetError('DATASET_INVALID', `${split}_${t.name}.npy rows do not match ${split}_x.npy`, { source: out });
      await writeNpy(join(out, `${split}_${t.name}.npy`), merged);
      const d = describe(t, merged);
      if (d.perClass !== undefined) perClass[t.name] = d.perClass;
      if (d.missing > 0) miss[t.name] = d.missing;
      if (d.regression !== undefined) regression[t.name] = d.regression;
    }
    splits[split] = {
      count: rows,
      perClass,
      ...(Object.keys(miss).length > 0 ? { missing: miss } : {}),
      ...(Object.keys(regression).length > 0 ? { regression } : {}),
    };
  }
  const meta: MergedPackMeta = {
    format: 'facesense-pack',
    version: 1,
    source: { layout: 'merged', packs: metas.map((m, i) => ({ dir: dirs[i]!, layout: m.source.layout, root: m.source.root })) },
    image: first.image,
    preprocessing: {
      crop: framing === undefined ? { mode: 'none' } : { mode: 'aligned', eyeDistance: framing.eyeDistance, eyeY: framing.eyeY },
      resize: 'bilinear',
      fit: 'cover',
    },
    targets,
    splits,
    skipped: { count: metas.reduce((s, m) => s + m.skipped.count, 0), items: [] },
    createdBy: 'facesense merge-packs',
  };
  await writeFile(join(out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return meta;
}
