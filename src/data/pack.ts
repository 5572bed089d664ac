/**
 * Writes a training pack (docs/pack-format.md) from a loader's samples: decodes each image with
 * sharp, crops or resizes it to `size`x`size`, and streams it to `<split>_x.npy` next to one
 * label file per target. Rows keep the loader's order; nothing holds more than a few images.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { readRegularFile } from '../io/safe-read.js';
import { join } from 'node:path';
import sharp from 'sharp';
import { DatasetError } from '../core/errors.js';
import { NpyWriter } from '../io/npy.js';
import { compareSplits, ProblemLog } from './loaders/common.js';
import type { DatasetLoader, LabelValue, Problem, Sample, SampleImage, TargetSpec } from './types.js';

/**
 * Face crop for datasets that need detection and alignment (injected: the alignment stage lives
 * elsewhere, see src/data/face-crop.ts). It receives the whole decoded image in RGB (so detection
 * sees colour and gray conversion happens after sampling, as in the analyzer) and returns the
 * aligned face as `size*size*channels` bytes in the pack's channel count; or `{data, fallback}`
 * when it found no face and fell back to a default crop; or null when it finds no face (the
 * sample is then skipped as `excluded`, since a missed detection is not malformed data). Both
 * kinds of miss are counted and listed in meta.json `preprocessing.noFace`.
 */
export type CropFn = (input: { data: Uint8Array; width: number; height: number; channels: 1 | 3 }) => Promise<CropResult>;
export type CropResult = Uint8Array | null | { readonly data: Uint8Array; readonly fallback: string };

export interface PackOptions {
  /** Output folder; created if missing. */
  readonly out: string;
  /** Output height and width in pixels. @default 48 */
  readonly size?: number;
  /** 1 gray or 3 RGB. @default 1 */
  readonly channels?: 1 | 3;
  readonly crop?: CropFn;
  /**
   * Recorded as `preprocessing.crop` when `crop` is given; `mode` defaults to `injected`. A crop
   * that aligns faces records the manifest's CropSpec here (`mode: 'aligned'`, `eyeDistance`,
   * `eyeY`), which the exporter copies into the model manifest.
   */
  readonly cropInfo?: Readonly<Record<string, string | number | boolean>>;
  /** Keep at most this many samples per split, the first in the loader's order. */
  readonly limit?: number;
  /** Make decode failures fatal (DatasetError). Loader problems follow the loader's own flag. */
  readonly strict?: boolean;
  /** Images decoded at once. @default 4 */
  readonly concurrency?: number;
  /** `meta.json` → createdBy. @default 'facesense prepare' */
  readonly createdBy?: string;
  readonly onProgress?: (progress: PackProgress) => void;
  /** Samples between progress calls. @default 1000 */
  readonly progressEvery?: number;
}

export interface PackProgress {
  readonly written: number;
  readonly skipped: number;
  readonly bySplit: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  readonly done: boolean;
}

export interface SplitMeta {
  readonly count: number;
  readonly perClass: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Rows without a label, per target (written as -1 / NaN); only targets with any. */
  readonly missing?: Readonly<Record<string, number>>;
  /** min / max / mean of each regression target over labelled rows. */
  readonly regression?: Readonly<Record<string, { readonly min: number; readonly max: number; readonly mean: number }>>;
  /** Subjects in the split, when samples carry them (CK+ folds). */
  readonly subjects?: readonly string[];
}

export interface PackMeta {
  readonly format: 'facesense-pack';
  readonly version: 1;
  readonly source: { readonly layout: string; readonly root: string; readonly limitPerSplit?: number };
  readonly image: { readonly height: number; readonly width: number; readonly channels: 1 | 3 };
  readonly preprocessing: {
    readonly crop: Readonly<Record<string, string | number | boolean>>;
    readonly resize: 'bilinear';
    /** Non-square images are centre-cropped to a square before resizing (sharp `fit: cover`). */
    readonly fit: 'cover';
    /** With a crop: images in which it found no face, kept with a default crop or skipped (`reason` says which). */
    readonly noFace?: { readonly count: number; readonly kept: number; readonly skipped: number; readonly items: readonly { readonly file: string; readonly reason: string }[] };
  };
  readonly targets: readonly TargetSpec[];
  readonly splits: Readonly<Record<string, SplitMeta>>;
  readonly skipped: { readonly count: number; readonly items: readonly Problem[]; readonly truncated?: boolean };
  readonly createdBy: string;
}

export interface PackResult {
  readonly dir: string;
  readonly meta: PackMeta;
  readonly elapsedMs: number;
}

/** meta.json lists at most this many skipped items (the count stays exact). */
const MAX_SKIPPED_ITEMS = 20_000;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Decodes a sample image to `size*size*channels` bytes: EXIF orientation applied, alpha dropped,
 * centre-cropped to square and resized bilinearly (or handed to `crop`). Returns null only when
 * `crop` finds no face. Throws on undecodable input.
 */
export async function samplePixels(image: SampleImage, size: number, channels: 1 | 3, crop?: CropFn): Promise<CropResult> {
  if (image.kind === 'pixels' && crop === undefined) {
    const p = image.pixels;
    if (p.width === size && p.height === size && p.channels === channels) return p.data;
  }
  const input =
    image.kind === 'file'
      ? sharp(await readRegularFile(image.path), { failOn: 'error' })
      : image.kind === 'encoded'
        ? sharp(image.bytes, { failOn: 'error' })
        : sharp(image.pixels.data, { raw: { width: image.pixels.width, height: image.pixels.height, channels: image.pixels.channels } });
  let pipeline = input.rotate();
  if (crop === undefined) pipeline = pipeline.resize(size, size, { kernel: 'linear', fit: 'cover' });
  // grayscale() keeps gray sources bit-exact; sharp would otherwise emit 3 channels for them.
  // A crop always gets RGB: it detects in colour and converts after sampling, as the analyzer.
  const decodeChannels = crop === undefined ? channels : 3;
  pipeline = decodeChannels === 1 ? pipeline.grayscale() : pipeline.removeAlpha().toColourspace('srgb');
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  const pixels = toChannels(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.channels, decodeChannels);
  if (crop === undefined) {
    if (info.width !== size || info.height !== size) throw new Error(`decoder returned ${info.width}x${info.height}, expected ${size}x${size}`);
    return pixels;
  }
  const face = await crop({ data: pixels, width: info.width, height: info.height, channels: decodeChannels });
  if (face === null) return null;
  const bytes = face instanceof Uint8Array ? face : face.data;
  if (bytes.length !== size * size * channels) throw new Error(`crop returned ${bytes.length} bytes, expected ${size}x${size}x${channels} = ${size * size * channels}`);
  return face;
}

/** Converts interleaved pixels between channel counts (sharp may keep an alpha or gray band). */
function toChannels(data: Uint8Array, from: number, to: 1 | 3): Uint8Array {
  if (from === to) return data;
  const n = data.length / from;
  const out = new Uint8Array(n * to);
  for (let i = 0; i < n; i++) {
    if (to === 3) {
      const v = data[i * from] ?? 0;
      out[i * 3] = v;
      out[i * 3 + 1] = from >= 3 ? (data[i * from + 1] ?? 0) : v;
      out[i * 3 + 2] = from >= 3 ? (data[i * from + 2] ?? 0) : v;
    } else {
      out[i] = data[i * from] ?? 0;
    }
  }
  return out;
}

interface SplitState {
  readonly x: NpyWriter<'uint8'>;
  readonly labels: Map<string, NpyWriter<'int64'> | NpyWriter<'float32'>>;
  count: number;
  readonly perClass: Map<string, number[]>;
  readonly missing: Map<string, number>;
  readonly regression: Map<string, { min: number; max: number; sum: number; n: number }>;
  readonly subjects: Set<string>;
}

type Decoded =
  | { readonly sample: Sample; readonly pixels: Uint8Array; readonly fallback?: string }
  | { readonly sample: Sample; readonly problem: Problem; readonly noFace?: true };

function describeFailure(sample: Sample, e: unknown): Problem {
  const message = e instanceof Error ? e.message : String(e);
  const missing = /missing|ENOENT|no such file/i.test(message);
  const where: { file: string; line?: number } =
    sample.image.kind === 'file' ? { file: sample.image.path } : sample.line === undefined ? { file: sample.file ?? sample.id } : { file: sample.file ?? sample.id, line: sample.line };
  return { ...where, reason: `cannot decode image ${sample.id}: ${message}`, kind: 'error', code: missing ? 'INPUT_NOT_FOUND' : 'DATASET_INVALID' };
}

function checkLabel(target: TargetSpec, value: LabelValue, sample: Sample): void {
  const k = target.classes?.length ?? 0;
  const ok =
    target.kind === 'class'
      ? typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < k
      : target.kind === 'regression'
        ? typeof value === 'number' && Number.isFinite(value)
        : typeof value !== 'number' && value.length === k;
  if (!ok) {
    // A loader bug, not bad data: the loader promised labels matching its targets.
    throw new DatasetError('DATASET_INVALID', `label ${JSON.stringify(value)} does not fit target ${target.name} (${target.kind}${k > 0 ? `, ${k} classes` : ''})`, {
      source: sample.file ?? sample.id,
    });
  }
}

export async function writePack(loader: DatasetLoader, options: PackOptions): Promise<PackResult> {
  const started = Date.now();
  const size = options.size ?? 48;
  const channels = options.channels ?? 1;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const every = Math.max(1, options.progressEvery ?? 1000);
  if (!Number.isInteger(size) || size < 1 || size > 4096) throw new DatasetError('DATASET_INVALID', `size must be an integer 1..4096, got ${size}`);
  for (const t of loader.targets) {
    if (!SAFE_NAME.test(t.name)) throw new DatasetError('DATASET_INVALID', `target name ${JSON.stringify(t.name)} cannot be used in a file name`);
  }
  await mkdir(options.out, { recursive: true });
  // meta.json is written last: its presence marks a complete pack.
  await rm(join(options.out, 'meta.json'), { force: true });

  const log = new ProblemLog(options.strict ?? false);
  const noFace: { file: string; reason: string }[] = [];
  let noFaceKept = 0;
  const splits = new Map<string, SplitState>();
  const taken = new Map<string, number>();
  let written = 0;

  const progress = (done: boolean): void => {
    options.onProgress?.({
      written,
      skipped: loader.problems.length + log.items.length,
      bySplit: Object.fromEntries([...splits].map(([s, st]) => [s, st.count])),
      elapsedMs: Date.now() - started,
      done,
    });
  };

  const openSplit = async (split: string): Promise<SplitState> => {
    if (!SAFE_NAME.test(split)) throw new DatasetError('DATASET_INVALID', `split name ${JSON.stringify(split)} cannot be used in a file name`);
    const labels = new Map<string, NpyWriter<'int64'> | NpyWriter<'float32'>>();
    const state: SplitState = {
      x: await NpyWriter.open(join(options.out, `${split}_x.npy`), 'uint8', [size, size, channels]),
      labels,
      count: 0,
      perClass: new Map(),
      missing: new Map(),
      regression: new Map(),
      subjects: new Set(),
    };
    splits.set(split, state);
    for (const t of loader.targets) {
      const path = join(options.out, `${split}_${t.name}.npy`);
      if (t.kind === 'class') {
        labels.set(t.name, await NpyWriter.open(path, 'int64', []));
        state.perClass.set(t.name, new Array<number>(t.classes?.length ?? 0).fill(0));
      } else if (t.kind === 'regression') {
        labels.set(t.name, await NpyWriter.open(path, 'float32', []));
      } else {
        labels.set(t.name, await NpyWriter.open(path, 'float32', [t.classes?.length ?? 0]));
      }
    }
    return state;
  };

  const commit = async (d: Decoded): Promise<void> => {
    if ('problem' in d) {
      if (d.noFace) noFace.push({ file: d.problem.file, reason: d.problem.reason });
      log.report(d.problem);
      return;
    }
    const { sample } = d;
    const state = splits.get(sample.split) ?? (await openSplit(sample.split));
    if (d.fallback !== undefined) {
      noFace.push({ file: sample.image.kind === 'file' ? sample.image.path : (sample.file ?? sample.id), reason: d.fallback });
      noFaceKept++;
    }
    for (const t of loader.targets) {
      const value = sample.labels[t.name];
      if (value !== undefined) checkLabel(t, value, sample);
    }
    await state.x.append(d.pixels);
    for (const t of loader.targets) {
      const writer = state.labels.get(t.name);
      const value = sample.labels[t.name];
      if (writer === undefined) continue;
      if (value === undefined) state.missing.set(t.name, (state.missing.get(t.name) ?? 0) + 1);
      if (writer.dtype === 'int64') {
        const v = typeof value === 'number' ? value : -1;
        await (writer as NpyWriter<'int64'>).append(BigInt64Array.of(BigInt(v)));
        const counts = state.perClass.get(t.name);
        if (counts !== undefined && v >= 0) counts[v] = (counts[v] ?? 0) + 1;
      } else if (t.kind === 'regression') {
        const v = typeof value === 'number' ? value : Number.NaN;
        await (writer as NpyWriter<'float32'>).append(Float32Array.of(v));
        if (typeof value === 'number') {
          const r = state.regression.get(t.name) ?? { min: Infinity, max: -Infinity, sum: 0, n: 0 };
          state.regression.set(t.name, { min: Math.min(r.min, v), max: Math.max(r.max, v), sum: r.sum + v, n: r.n + 1 });
        }
      } else {
        const row = new Float32Array(t.classes?.length ?? 0).fill(Number.NaN);
        if (value !== undefined && typeof value !== 'number') row.set(value);
        await (writer as NpyWriter<'float32'>).append(row);
      }
    }
    if (sample.subject !== undefined) state.subjects.add(sample.subject);
    state.count++;
    written++;
    if (written % every === 0) progress(false);
  };

  const decode = async (sample: Sample): Promise<Decoded> => {
    try {
      const pixels = await samplePixels(sample.image, size, channels, options.crop);
      if (pixels === null) {
        const where = sample.image.kind === 'file' ? sample.image.path : (sample.file ?? sample.id);
        return { sample, problem: { file: where, reason: `no face found in ${sample.id}; skipped`, kind: 'excluded' }, noFace: true };
      }
      return pixels instanceof Uint8Array ? { sample, pixels } : { sample, pixels: pixels.data, fallback: pixels.fallback };
    } catch (e) {
      return { sample, problem: describeFailure(sample, e) };
    }
  };

  // Decoding runs `concurrency` ahead; results are committed in order. `decode` never rejects,
  // so an abort (strict) leaves no unhandled promise behind.
  const pending: Promise<Decoded>[] = [];
  let completed = false;
  try {
    for await (const sample of loader.samples()) {
      const n = taken.get(sample.split) ?? 0;
      if (options.limit !== undefined && n >= options.limit) continue;
      taken.set(sample.split, n + 1);
      pending.push(decode(sample));
      if (pending.length >= concurrency) await commit(await (pending.shift() as Promise<Decoded>));
    }
    while (pending.length > 0) await commit(await (pending.shift() as Promise<Decoded>));
    for (const state of splits.values()) {
      await state.x.close();
      for (const w of state.labels.values()) await w.close();
    }
    completed = true;
  } finally {
    if (!completed) {
      await Promise.allSettled(pending);
      // Half-written files would claim a reserved row count; remove them rather than leave traps.
      for (const state of splits.values()) {
        for (const w of [state.x, ...state.labels.values()]) {
          await w.abort();
          await rm(w.path, { force: true });
        }
      }
    }
  }

  const problems = [...loader.problems, ...log.items];
  const splitMeta: Record<string, SplitMeta> = {};
  for (const name of [...splits.keys()].sort(compareSplits)) {
    const st = splits.get(name);
    if (st === undefined) continue;
    const perClass: Record<string, Record<string, number>> = {};
    for (const t of loader.targets) {
      const counts = st.perClass.get(t.name);
      if (counts !== undefined) perClass[t.name] = Object.fromEntries((t.classes ?? []).map((c, i) => [c, counts[i] ?? 0]));
    }
    splitMeta[name] = {
      count: st.count,
      perClass,
      ...(st.missing.size > 0 ? { missing: Object.fromEntries(st.missing) } : {}),
      ...(st.regression.size > 0
        ? { regression: Object.fromEntries([...st.regression].map(([t, r]) => [t, { min: r.min, max: r.max, mean: Math.round((r.sum / r.n) * 1000) / 1000 }])) }
        : {}),
      ...(st.subjects.size > 0 ? { subjects: [...st.subjects].sort() } : {}),
    };
  }
  const meta: PackMeta = {
    format: 'facesense-pack',
    version: 1,
    source: { layout: loader.layout, root: loader.root, ...(options.limit === undefined ? {} : { limitPerSplit: options.limit }) },
    image: { height: size, width: size, channels },
    preprocessing: {
      crop: options.crop === undefined ? { mode: 'none' } : { mode: 'injected', ...options.cropInfo },
      resize: 'bilinear',
      fit: 'cover',
      ...(options.crop === undefined ? {} : { noFace: { count: noFace.length, kept: noFaceKept, skipped: noFace.length - noFaceKept, items: noFace.slice(0, MAX_SKIPPED_ITEMS) } }),
    },
    targets: loader.targets,
    splits: splitMeta,
    skipped: {
      count: problems.length,
      items: problems.slice(0, MAX_SKIPPED_ITEMS),
      ...(problems.length > MAX_SKIPPED_ITEMS ? { truncated: true } : {}),
    },
    createdBy: options.createdBy ?? 'facesense prepare',
  };
  await writeFile(join(options.out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  progress(true);
  return { dir: options.out, meta, elapsedMs: Date.now() - started };
}
