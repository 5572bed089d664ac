/**
 * Teacher targets for distillation (issue 17): a model's predicted distributions over every row of
 * a training pack, written into the pack as `distribution` targets (`<split>_<prefix><task>.npy`,
 * float32 N × K). A config then trains a small student's heads on them beside (or instead of) the
 * labels: `losses.<prefix><task> = {"loss": "soft_ce", "output": "<task>"}` (training/train.py).
 *
 * Rows are the pack's own crops, resized to the teacher's input (the teacher must frame faces as
 * the pack does: checked against the pack's framing). Softmax and expectation outputs give their
 * softmax over classes or bins, sigmoid outputs their per-label probabilities; identity (plain
 * value) outputs have no distribution and are left out. With `tta` each row is the mean of the
 * crop's and its mirror image's logits, as the analyzer's `tta` reads a face. Files are written as
 * `.part` and renamed into place, meta.json last, only when every split is done.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { alignFace } from '../core/align.js';
import { DatasetError, OptionError } from '../core/errors.js';
import type { Classifier } from '../core/infer.js';
import type { ModelOutput } from '../core/models/manifest.js';
import { sigmoid, softmax } from '../core/postprocess.js';
import type { Image8 } from '../core/types.js';
import { NpyWriter, readNpy } from '../io/npy.js';
import { packFraming } from './merge-packs.js';
import type { PackMeta } from './pack.js';
import type { TargetSpec } from './types.js';

export interface TeachOptions {
  /** Prefix of the written targets' names: `<prefix><task>`. @default 'teacher_' */
  readonly prefix?: string;
  /** Average each crop with its mirror image. @default true */
  readonly tta?: boolean;
  /** Crops per inference call. @default 64 */
  readonly batch?: number;
  /** Largest difference in eye framing (fractions of the crop) accepted between model and pack. @default 0.02 */
  readonly framingTolerance?: number;
  readonly onProgress?: (split: string, done: number, total: number) => void;
}

/** Where a pack keeps what taught each teacher target. */
export interface TeacherRecord {
  readonly target: string;
  readonly model: string;
  readonly output: string;
  readonly tta: boolean;
}

export interface TeachResult {
  readonly targets: readonly TargetSpec[];
  readonly rows: Readonly<Record<string, number>>;
  /** Outputs with no distribution to learn (identity decode), not written. */
  readonly leftOut: readonly string[];
}

const SAFE_PREFIX = /^[A-Za-z0-9_.-]*$/;

/** The probabilities a row of logits stands for under the output's decode. */
export function teacherProbabilities(out: Pick<ModelOutput, 'decode'>, logits: ArrayLike<number>): Float32Array {
  if (out.decode === 'sigmoid') return Float32Array.from(Array.from(logits, sigmoid));
  return Float32Array.from(softmax(logits));
}

/** Checks that the teacher frames faces as the pack does (a model cropping otherwise would teach from the wrong view). */
export function checkFraming(meta: PackMeta, classifier: Pick<Classifier, 'manifest'>, tolerance: number, source: string): void {
  const crop = classifier.manifest.input.crop;
  const pack = packFraming(meta);
  if (crop === undefined || crop.mode !== 'aligned' || pack === undefined) return;
  const dx = Math.abs(crop.eyeDistance - pack.eyeDistance);
  const dy = Math.abs(crop.eyeY - pack.eyeY);
  if (dx > tolerance || dy > tolerance) {
    throw new OptionError(
      `${source}: the pack frames faces with the eyes ${pack.eyeDistance} apart at ${pack.eyeY}, model ${classifier.manifest.id} with ${crop.eyeDistance} at ${crop.eyeY}; prepare a pack with the model's framing (facesense prepare --eye-distance/--eye-y)`,
    );
  }
}

function rowImage(data: Uint8Array, i: number, h: number, w: number, c: 1 | 3): Image8 {
  const n = h * w * c;
  return { data: data.subarray(i * n, (i + 1) * n), width: w, height: h, channels: c };
}

/** Writes the teacher targets into the pack at `dir` and records them in its meta.json. */
export async function teachPack(dir: string, classifier: Classifier, options: TeachOptions = {}): Promise<TeachResult> {
  const prefix = options.prefix ?? 'teacher_';
  if (!SAFE_PREFIX.test(prefix)) throw new OptionError(`--prefix may hold only letters, digits, '_', '.' and '-', got ${JSON.stringify(prefix)}`);
  const tta = options.tta ?? true;
  const batch = options.batch ?? 64;
  const metaPath = join(dir, 'meta.json');
  let meta: PackMeta & { teachers?: TeacherRecord[] };
  try {
    meta = JSON.parse(await readFile(metaPath, 'utf8')) as typeof meta;
  } catch (cause) {
    throw new DatasetError('DATASET_INVALID', 'not a readable pack meta.json (build packs with `facesense prepare`)', { source: metaPath, cause });
  }
  if (meta.format !== 'facesense-pack') throw new DatasetError('DATASET_INVALID', `format is ${JSON.stringify(meta.format)}, not facesense-pack`, { source: metaPath });
  checkFraming(meta, classifier, options.framingTolerance ?? 0.02, metaPath);
  // Every split: the trainer reads each target of the pack for every split it opens.
  const splits = Object.keys(meta.splits);
  const { manifest } = classifier;
  const taught = manifest.outputs.filter((o) => o.decode !== 'identity');
  const leftOut = manifest.outputs.filter((o) => o.decode === 'identity').map((o) => o.task);
  if (taught.length === 0) throw new OptionError(`model ${manifest.id} has no class, bin or label outputs to teach (only ${leftOut.join(', ')})`);
  const targets: TargetSpec[] = taught.map((o) => ({ name: `${prefix}${o.task}`, kind: 'distribution', classes: [...o.labels] }));
  const own = new Set(meta.targets.filter((t) => !(meta.teachers ?? []).some((r) => r.target === t.name)).map((t) => t.name));
  const clash = targets.find((t) => own.has(t.name));
  if (clash !== undefined) throw new OptionError(`pack ${dir} already has a label target "${clash.name}"; choose another --prefix`);
  const { width: W, height: H, channels: C } = manifest.input;
  const rows: Record<string, number> = {};
  for (const split of splits) {
    const xPath = join(dir, `${split}_x.npy`);
    const x = await readNpy(xPath);
    const [n, h, w, c] = x.shape;
    if (x.dtype !== 'uint8' || x.shape.length !== 4 || (c !== 1 && c !== 3) || n === undefined || h === undefined || w === undefined) {
      throw new DatasetError('DATASET_INVALID', `expected uint8 N × H × W × 1|3 images, got ${x.dtype} [${x.shape.join(', ')}]`, { source: xPath });
    }
    const data = x.data as Uint8Array;
    const writers = await Promise.all(targets.map((t, k) => NpyWriter.open(join(dir, `${split}_${t.name}.npy.part`), 'float32', [taught[k]!.labels.length], { rows: n })));
    try {
      for (let start = 0; start < n; start += batch) {
        const crops: Image8[] = [];
        for (let i = start; i < Math.min(n, start + batch); i++) {
          // The analyzer's crop of a pre-cropped face (detector none): the whole row, resized.
          crops.push(alignFace(rowImage(data, i, h, w, c), undefined, { width: W, height: H, channels: C, crop: { mode: 'none' } }).image);
        }
        const { outputs } = await classifier.run(crops, { tta });
        for (const [k, o] of taught.entries()) {
          for (const logits of outputs[o.task]!) await writers[k]!.append(teacherProbabilities(o, logits));
        }
        options.onProgress?.(split, Math.min(n, start + batch), n);
      }
      for (const wr of writers) await wr.close();
    } catch (e) {
      await Promise.allSettled(writers.map((wr) => wr.abort()));
      throw e;
    }
    rows[split] = n;
  }
  // Renamed only when every split is labelled: a failed or interrupted run leaves the pack as it was.
  for (const split of splits) for (const t of targets) await rename(join(dir, `${split}_${t.name}.npy.part`), join(dir, `${split}_${t.name}.npy`));
  const names = new Set(targets.map((t) => t.name));
  const records: TeacherRecord[] = taught.map((o, k) => ({ target: targets[k]!.name, model: manifest.id, output: o.task, tta }));
  const updated = {
    ...meta,
    targets: [...meta.targets.filter((t) => !names.has(t.name)), ...targets],
    teachers: [...(meta.teachers ?? []).filter((r) => !names.has(r.target)), ...records],
  };
  await writeFile(`${metaPath}.part`, `${JSON.stringify(updated, null, 2)}\n`);
  await rename(`${metaPath}.part`, metaPath);
  return { targets, rows, leftOut };
}
