/**
 * `facesense prepare`: turns a dataset in one of the supported layouts into a training pack
 * (docs/pack-format.md). Progress goes to stderr, the summary to stdout.
 * Exit codes: 0 done, 1 dataset problem (any error under --strict, or an unreadable dataset),
 * 2 usage error.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isFacesenseError, ModelError, OptionError } from '../core/errors.js';
import { findUp } from '../data/loaders/common.js';
import { createLoader, isLayoutName, LAYOUTS } from '../data/loaders/index.js';
import { parseFerplusProtocol, type FerplusProtocol } from '../data/loaders/ferplus-folders.js';
import { UTK_CHIP_EYES } from '../data/loaders/utkface.js';
import { writePack, type PackMeta, type PackOptions, type PackProgress } from '../data/pack.js';
import { addFramingToPack } from '../data/framing.js';
import { createFaceCrop, type AlignedCropSpec, type FaceCropOptions, type NoFacePolicy } from '../data/face-crop.js';
import type { LayoutName } from '../data/types.js';
import type { FaceDetector } from '../core/detect/types.js';
import { createYunetDetector } from '../node/platform.js';
import { createModelStore } from '../node/models/store.js';
import { WEIGHTS_REGISTRY } from '../core/models/registry.js';
import { positiveInt } from './options.js';
import { checkOutputTarget } from '../io/outputs.js';

/**
 * Framing of `--crop aligned`, close to the UTKFace chips' own (YuNet medians: eyes 0.395 of the
 * width apart at 0.30 of the height), so the aligned window stays inside a chip — replicated
 * borders there would be a cue photos never show — while keeping the chin (beard) and forehead.
 */
export const DEFAULT_ALIGNED_CROP: AlignedCropSpec = Object.freeze({ mode: 'aligned', eyeDistance: 0.4, eyeY: 0.3 });

interface LayoutDefaults {
  readonly size: number;
  readonly channels: 1 | 3;
  readonly crop: 'aligned' | 'none';
  /** Images in which the detector finds no face (`--crop aligned`). */
  readonly noFace: NoFacePolicy;
  /** Eye positions (fractions) to align from when the detector misses a face (`--no-face fallback`). */
  readonly fallbackEyes?: FaceCropOptions['fallbackEyes'];
}

/**
 * Defaults per layout, the one place they live. UTKFace: RGB (ethnicity and age read colour and
 * skin texture) at 64×64 — ~1.8× the work of 48×48 per image, which still trains in under 40 min on
 * one core, while 48 px blurs the wrinkles, stubble and glasses frames these tasks need; its 200 px
 * chips are detected and aligned like photo faces, and chips without a detectable face are
 * skipped: in part 1 all 8 such chips are not faces at all (close-ups of an eye, a dark frame, a
 * printed page), and the analyzer would never see them. FER-style sets are 48×48 gray crops
 * already, too small to re-detect: they are resized and their framing measured (src/data/framing.ts).
 */
export const LAYOUT_DEFAULTS: Readonly<Record<LayoutName, LayoutDefaults>> = Object.freeze({
  'fer2013-csv': { size: 48, channels: 1, crop: 'none', noFace: 'fallback' },
  'fer2013-folders': { size: 48, channels: 1, crop: 'none', noFace: 'fallback' },
  'ferplus-folders': { size: 48, channels: 1, crop: 'none', noFace: 'fallback' },
  'ferplus-csv': { size: 48, channels: 1, crop: 'none', noFace: 'fallback' },
  utkface: { size: 64, channels: 3, crop: 'aligned', noFace: 'skip', fallbackEyes: UTK_CHIP_EYES },
  ckplus: { size: 48, channels: 1, crop: 'none', noFace: 'fallback' },
  folders: { size: 48, channels: 1, crop: 'none', noFace: 'fallback' },
});

export const PREPARE_USAGE = `Usage: facesense prepare --layout <layout> --root DIR --out DIR [options]

Writes a training pack (<split>_x.npy, <split>_<target>.npy, meta.json) from a face dataset.

Layouts:
  fer2013-csv       Kaggle fer2013.csv (--root is the file or its folder)
  fer2013-folders   {train,test}/<class>/<Usage>_<id>.jpg
  ferplus-folders   FER2013{Train,Valid,Test}/fer%07d.png + label.csv
  ferplus-csv       fer2013new.csv (--root) joined with Kaggle fer2013.csv (--fer2013-csv)
  utkface           <age>_<gender>_<race>_<datetime>.jpg.chip.jpg, split from data/splits/utkface-part1.json
  ckplus            CK+48/<emotion>/S<subj>_<seq>_<frame>.png or the original CK+ release;
                    splits are subject-independent folds fold0..fold<k-1>
  folders           <root>/[<split>/]<class>/*.{jpg,png,...}

Options:
  --layout NAME         dataset layout (above)
  --root DIR            dataset root
  --out DIR             pack folder to write
  --size N              output height and width in pixels (default 64 for utkface, else 48)
  --channels 1|3        gray or RGB (default 3 for utkface, else 1)
  --crop aligned|none   aligned: YuNet + eye alignment on every image, exactly as the analyzer
                        crops photo faces (default for utkface); none: resize whole images
  --eye-distance F      aligned: eye distance as a fraction of the output width (default ${DEFAULT_ALIGNED_CROP.eyeDistance})
  --eye-y F             aligned: eye height as a fraction of the output height (default ${DEFAULT_ALIGNED_CROP.eyeY})
  --no-face POLICY      aligned, images without a detected face: skip (default for utkface) or
                        fallback (default otherwise: align from the dataset's median eye positions,
                        or resize whole); either way counted in meta.json preprocessing.noFace
  --fer2013-csv FILE    ferplus-csv: Kaggle fer2013.csv with the pixels
  --appearance FILE     utkface: glasses/beard/moustache labels TSV, joined by file name
  --split-file FILE     utkface: split list (default: the project's data/splits/utkface-part1.json)
  --protocol NAME       ferplus-*: plurality (default: most-voted label) | majority (Barsoum et
                        al.'s reference: single votes dropped, kept when the top emotion holds
                        more than half the rest; the emotion target is then one-hot)
  --folds K             ckplus: number of subject-independent folds (default 10; 1 = no folds)
  --strict              stop at the first malformed row or undecodable image (exit 1)
  --limit N             keep at most N samples per split (quick runs)
  -h, --help            show this help
`;

export interface PrepareIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const PROCESS_IO: PrepareIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

const MAX_LISTED_PROBLEMS = 5;

function fraction(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (value.trim() === '' || !Number.isFinite(v) || v <= 0 || v >= 1) throw new OptionError(`--${name} must be a fraction between 0 and 1, got ${JSON.stringify(value)}`);
  return v;
}

/** YuNet as the analyzer opens it: the dynamic-size export, else the fixed 640×640 one; one thread. */
async function openYunet(): Promise<FaceDetector> {
  const store = createModelStore();
  let path: string;
  try {
    path = await store.resolveFile(WEIGHTS_REGISTRY.yunet);
  } catch (e) {
    if (!(e instanceof ModelError) || e.code !== 'MODEL_NOT_FOUND') throw e;
    path = await store.resolveFile(WEIGHTS_REGISTRY['yunet-640']);
  }
  return createYunetDetector({ modelPath: path, threads: 1 });
}

async function packageVersion(): Promise<string> {
  const path = await findUp(dirname(fileURLToPath(import.meta.url)), 'package.json');
  if (path === undefined) return 'unknown';
  try {
    const pkg = JSON.parse(await readFile(path, 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function formatProgress(p: PackProgress): string {
  const splits = Object.entries(p.bySplit)
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  return `prepare: ${p.written} written${splits === '' ? '' : ` (${splits})`}, ${p.skipped} skipped, ${(p.elapsedMs / 1000).toFixed(1)} s\n`;
}

/**
 * Pre-cropped datasets: measure where the eyes sit in the crops (src/data/framing.ts) so that the
 * exported model aligns photo faces the same way. Needs the YuNet weights; skipped without them.
 */
async function recordFraming(dir: string): Promise<string> {
  try {
    const store = createModelStore();
    const detector = await createYunetDetector({ modelPath: await store.resolveFile(WEIGHTS_REGISTRY.yunet), threads: 1 });
    try {
      const f = await addFramingToPack(dir, detector);
      return f === undefined
        ? 'Framing: no face found in the crops; the exported model will resize whole detector boxes'
        : `Framing: eyes ${(f.eyeDistance * 100).toFixed(1)}% of the width apart, at ${(f.eyeY * 100).toFixed(1)}% of the height (YuNet on ${f.measured}/${f.tried} crops)`;
    } finally {
      await detector.dispose();
    }
  } catch (e) {
    return `Framing not measured (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); set FACESENSE_MODELS to a folder with ${WEIGHTS_REGISTRY.yunet.file}`;
  }
}

export function formatSummary(meta: PackMeta, dir: string, elapsedMs: number): string {
  const lines: string[] = [];
  const { height, width, channels } = meta.image;
  lines.push(`Pack written to ${dir} (${meta.source.layout}, ${height}x${width}x${channels}) in ${(elapsedMs / 1000).toFixed(1)} s`);
  const names = Object.keys(meta.splits);
  const pad = Math.max(5, ...names.map((n) => n.length));
  for (const name of names) {
    const s = meta.splits[name];
    if (s === undefined) continue;
    const classes = Object.entries(s.perClass)
      .map(([t, counts]) => `${t}: ${Object.entries(counts).map(([c, n]) => `${c} ${n}`).join(', ')}`)
      .join('; ');
    lines.push(`  ${name.padEnd(pad)} ${String(s.count).padStart(6)}${classes === '' ? '' : `  ${classes}`}`);
  }
  const items = meta.skipped.items;
  const errors = items.filter((p) => p.kind === 'error').length;
  const crop = meta.preprocessing.crop;
  if (crop['mode'] === 'aligned') {
    const total = Object.values(meta.splits).reduce((n, s) => n + s.count, 0);
    const miss = meta.preprocessing.noFace;
    lines.push(
      `Aligned: ${total - (miss?.kept ?? 0)} faces from ${String(crop['detector'])} landmarks; no face found in ${miss?.count ?? 0} images ` +
        `(${miss?.skipped ?? 0} skipped, ${miss?.kept ?? 0} kept by fallback; listed in meta.json preprocessing.noFace)`,
    );
    for (const p of (miss?.items ?? []).slice(0, MAX_LISTED_PROBLEMS)) lines.push(`  ${p.file}: ${p.reason}`);
  }
  lines.push(`Skipped: ${meta.skipped.count} (${errors} errors, ${items.length - errors} excluded by protocol)`);
  for (const p of items.slice(0, MAX_LISTED_PROBLEMS)) lines.push(`  ${p.file}${p.line === undefined ? '' : `:${p.line}`}: ${p.reason}`);
  if (meta.skipped.count > MAX_LISTED_PROBLEMS) lines.push(`  ... and ${meta.skipped.count - MAX_LISTED_PROBLEMS} more (meta.json lists them)`);
  return `${lines.join('\n')}\n`;
}

export async function runPrepare(args: string[], io: PrepareIO = PROCESS_IO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        layout: { type: 'string' },
        root: { type: 'string' },
        out: { type: 'string' },
        size: { type: 'string' },
        channels: { type: 'string' },
        'fer2013-csv': { type: 'string' },
        appearance: { type: 'string' },
        'split-file': { type: 'string' },
        protocol: { type: 'string' },
        folds: { type: 'string' },
        crop: { type: 'string' },
        'eye-distance': { type: 'string' },
        'eye-y': { type: 'string' },
        'no-face': { type: 'string' },
        strict: { type: 'boolean', default: false },
        limit: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    io.stderr(`facesense prepare: ${e instanceof Error ? e.message : String(e)}\n\n${PREPARE_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout(PREPARE_USAGE);
    return 0;
  }

  let layout;
  let size: number;
  let channels: 1 | 3;
  let limit: number | undefined;
  let folds: number | undefined;
  let protocol: FerplusProtocol | undefined;
  let aligned: AlignedCropSpec | undefined;
  let noFace: NoFacePolicy;
  try {
    const missing = (['layout', 'root', 'out'] as const).filter((k) => values[k] === undefined);
    if (missing.length > 0) throw new OptionError(`missing ${missing.map((k) => `--${k}`).join(', ')}`);
    layout = values.layout ?? '';
    if (!isLayoutName(layout)) throw new OptionError(`unknown --layout ${JSON.stringify(layout)} (expected one of ${LAYOUTS.join(', ')})`);
    const defaults = LAYOUT_DEFAULTS[layout];
    size = positiveInt('size', values.size, defaults.size);
    if (values.channels !== undefined && values.channels !== '1' && values.channels !== '3') throw new OptionError(`--channels must be 1 or 3, got ${JSON.stringify(values.channels)}`);
    channels = values.channels === undefined ? defaults.channels : values.channels === '3' ? 3 : 1;
    const crop = values.crop ?? defaults.crop;
    if (crop !== 'aligned' && crop !== 'none') throw new OptionError(`--crop must be aligned or none, got ${JSON.stringify(crop)}`);
    if (values['no-face'] !== undefined && values['no-face'] !== 'fallback' && values['no-face'] !== 'skip') throw new OptionError(`--no-face must be fallback or skip, got ${JSON.stringify(values['no-face'])}`);
    noFace = values['no-face'] === undefined ? defaults.noFace : values['no-face'] === 'skip' ? 'skip' : 'fallback';
    if (crop === 'aligned') {
      aligned = {
        mode: 'aligned',
        eyeDistance: fraction('eye-distance', values['eye-distance'], DEFAULT_ALIGNED_CROP.eyeDistance),
        eyeY: fraction('eye-y', values['eye-y'], DEFAULT_ALIGNED_CROP.eyeY),
      };
    } else if (values['eye-distance'] !== undefined || values['eye-y'] !== undefined || values['no-face'] !== undefined) {
      throw new OptionError('--eye-distance, --eye-y and --no-face apply to --crop aligned only');
    }
    limit = values.limit === undefined ? undefined : positiveInt('limit', values.limit, 0);
    folds = values.folds === undefined ? undefined : positiveInt('folds', values.folds, 0);
    protocol = parseFerplusProtocol(values.protocol);
    if (layout === 'ferplus-csv' && values['fer2013-csv'] === undefined) throw new OptionError('layout ferplus-csv needs --fer2013-csv FILE (Kaggle fer2013.csv, for the pixels)');
  } catch (e) {
    io.stderr(`facesense prepare: ${e instanceof Error ? e.message : String(e)}\nRun facesense prepare --help for usage.\n`);
    return 2;
  }

  const root = values.root ?? '';
  const out = values.out ?? '';
  const strict = values.strict;
  try {
    await checkOutputTarget('--out', out);
    const loader = await createLoader(layout, {
      root,
      strict,
      ...(values['fer2013-csv'] === undefined ? {} : { fer2013Csv: values['fer2013-csv'] }),
      ...(values.appearance === undefined ? {} : { appearance: values.appearance }),
      ...(values['split-file'] === undefined ? {} : { splitFile: values['split-file'] }),
      ...(protocol === undefined ? {} : { ferplusProtocol: protocol }),
      ...(folds === undefined ? {} : { folds }),
    });
    const how = aligned === undefined ? '' : `, YuNet + aligned crop: eyes ${aligned.eyeDistance} apart at ${aligned.eyeY}`;
    io.stderr(`prepare: ${layout} from ${root} → ${out} (${size}x${size}x${channels}${how}${limit === undefined ? '' : `, at most ${limit} per split`})\n`);
    const detector = aligned === undefined ? undefined : await openYunet();
    try {
      const fallbackEyes = LAYOUT_DEFAULTS[layout].fallbackEyes;
      const cropOptions: Partial<PackOptions> =
        detector === undefined || aligned === undefined
          ? {}
          : {
              crop: createFaceCrop({ detector, size, channels, crop: aligned, noFace, ...(fallbackEyes === undefined ? {} : { fallbackEyes }) }),
              cropInfo: { ...aligned, detector: detector.name, noFace: noFace === 'skip' ? 'skip' : fallbackEyes === undefined ? 'fallback: whole image' : 'fallback: median eye positions' },
            };
      const result = await writePack(loader, {
        out,
        size,
        channels,
        strict,
        ...cropOptions,
        ...(limit === undefined ? {} : { limit }),
        createdBy: `facesense prepare ${await packageVersion()}`,
        progressEvery: 2000,
        onProgress: (p) => {
          if (!p.done) io.stderr(formatProgress(p));
        },
      });
      io.stdout(formatSummary(result.meta, result.dir, result.elapsedMs));
      if (Object.values(result.meta.splits).every((sp) => sp.count === 0)) {
        // An empty pack is not a success: nothing could be trained or measured from it.
        io.stderr(`facesense prepare: DatasetError [DATASET_INVALID] ${root}: no usable sample (${result.meta.skipped.count} skipped); the pack in ${result.dir} is empty\n`);
        return 1;
      }
      if (result.meta.preprocessing.crop.mode === 'none') io.stdout(`${await recordFraming(result.dir)}\n`);
      return 0;
    } finally {
      await detector?.dispose();
    }
  } catch (e) {
    if (e instanceof OptionError) {
      io.stderr(`facesense prepare: ${e.message}\n`);
      return 2;
    }
    if (isFacesenseError(e)) {
      io.stderr(`facesense prepare: ${e.name} [${e.code}] ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
