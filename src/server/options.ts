/** Request options (query string or multipart fields) → analysis options, named as the CLI's flags. */
import type { DetectorName } from '../core/analyzer.js';
import { detectOptions, optionalNumber } from '../cli/options.js';
import { OptionError } from '../core/errors.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import type { SamplingOptions } from '../node/video/decode.js';
import { parseSmoothing, type SmoothingSpec } from '../core/video/smooth.js';
import { parseSequenceWindow } from '../node/video/sequence.js';
import type { ModelChoice } from './pool.js';

export type RawOptions = Readonly<Record<string, string | readonly string[] | undefined>>;

const one = (o: RawOptions, k: string): string | undefined => {
  const v = o[k];
  return Array.isArray(v) ? (v as readonly string[]).at(-1) : (v as string | undefined);
};
const list = (o: RawOptions, k: string): string[] | undefined => {
  const v = o[k];
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? (v as readonly string[]) : [v as string]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
};
const flag = (o: RawOptions, k: string): boolean | undefined => {
  const v = one(o, k);
  if (v === undefined) return undefined;
  if (['', '1', 'true', 'yes'].includes(v)) return true;
  if (['0', 'false', 'no'].includes(v)) return false;
  throw new OptionError(`--${k} must be true or false (got "${v}")`);
};

/** A model id as the model store looks it up (no directories, no file extension): clients never name files on the server. */
const MODEL_ID = /^[A-Za-z0-9][\w.-]*$/;
function modelId(flagName: string, id: string): string {
  if (!MODEL_ID.test(id) || /\.(onnx|json)$/i.test(id)) throw new OptionError(`--${flagName} must be a model id such as emotion-ferplus, not a path (got ${JSON.stringify(id)})`);
  return id;
}

export interface ImageRequestOptions {
  readonly choice: ModelChoice;
  readonly detect: ReturnType<typeof detectOptions>;
  readonly tta: boolean | undefined;
  readonly format: 'json' | 'jsonl' | 'csv' | undefined;
}

export const DETECTORS: readonly DetectorName[] = ['yunet', 'yunet-640', 'viola-jones', 'none'];

export function imageOptions(o: RawOptions): ImageRequestOptions {
  const detector = one(o, 'detector');
  if (detector !== undefined && !DETECTORS.includes(detector as DetectorName)) throw new OptionError(`detector must be ${DETECTORS.join(', ')} (got "${detector}")`);
  const format = one(o, 'format');
  if (format !== undefined && !['json', 'jsonl', 'csv'].includes(format)) throw new OptionError(`format must be json, jsonl or csv (got "${format}")`);
  const tasks = list(o, 'tasks');
  const models = list(o, 'model')?.map((m) => modelId('model', m));
  return {
    choice: { ...(detector === undefined ? {} : { detector: detector as DetectorName }), ...(tasks === undefined ? {} : { tasks }), ...(models === undefined ? {} : { models }) },
    detect: detectOptions({ 'score-threshold': one(o, 'score-threshold'), 'max-faces': one(o, 'max-faces'), 'min-face': one(o, 'min-face') } as Parameters<typeof detectOptions>[0]),
    tta: flag(o, 'tta'),
    format: format as ImageRequestOptions['format'],
  };
}

export interface VideoRequestOptions extends ImageRequestOptions {
  readonly sampling: SamplingOptions;
  readonly detectEvery: number | undefined;
  readonly smoothing: SmoothingSpec | undefined;
  readonly iou: number | undefined;
  readonly maxMissed: number | undefined;
  readonly annotate: boolean;
  /** Sequence model id (`--sequence-model`), an id only. */
  readonly sequenceModel: string | undefined;
  readonly sequenceWindow: string | undefined;
}

export function videoOptions(o: RawOptions): VideoRequestOptions {
  const image = imageOptions(o);
  if (image.choice.detector === 'none') throw new OptionError('detector none cannot track faces; use yunet, yunet-640 or viola-jones');
  const num = (k: string) => optionalNumber(k, one(o, k));
  // The CLI's bounds (src/cli/video.ts): a frame rate of 1e9 or every 0 is refused here, not found out by the job.
  const fps = parseNumberOption('fps', one(o, 'fps'), RULES.fps);
  const every = parseNumberOption('every', one(o, 'every'), RULES.every);
  const [startSec, endSec] = [num('start'), num('end')];
  const smooth = one(o, 'smooth');
  const [sequenceModel, sequenceWindow] = [one(o, 'sequence-model'), one(o, 'sequence-window')];
  if (sequenceModel !== undefined) modelId('sequence-model', sequenceModel);
  // The CLI's checks: a window needs a model, and is N or track (the model's own length is checked when it is resolved).
  if (sequenceWindow !== undefined && sequenceModel === undefined) throw new OptionError('--sequence-window needs --sequence-model');
  if (sequenceWindow !== undefined) parseSequenceWindow(sequenceWindow, 1);
  return {
    ...image,
    sampling: { ...(fps === undefined ? {} : { fps }), ...(every === undefined ? {} : { every }), ...(startSec === undefined ? {} : { startSec }), ...(endSec === undefined ? {} : { endSec }) },
    detectEvery: num('detect-every'),
    smoothing: smooth === undefined ? undefined : parseSmoothing(smooth),
    iou: num('iou'),
    maxMissed: num('max-missed'),
    annotate: flag(o, 'annotate') ?? false,
    sequenceModel,
    sequenceWindow,
  };
}
