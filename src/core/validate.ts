/**
 * Checks at the library's boundary: every option and argument is checked for type, range and
 * integer-ness before any work starts, so a bad value is an OptionError naming the option instead
 * of garbage results (score threshold −1), silence (max faces −1) or a hang (threads 100000).
 */
import { ImageDecodeError, OptionError } from './errors.js';

export interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
  /** Whether `min` itself is excluded. @default false */
  readonly exclusiveMin?: boolean;
}

function describe(rule: NumberRule): string {
  const kind = rule.integer === true ? 'an integer' : 'a number';
  const lo = rule.min === undefined ? '' : `${rule.exclusiveMin === true ? '>' : '≥'} ${rule.min}`;
  const hi = rule.max === undefined ? '' : `≤ ${rule.max}`;
  const range = [lo, hi].filter(Boolean).join(' and ');
  return range === '' ? kind : `${kind} ${range}`;
}

/** `value` when it is a finite number within `rule`; otherwise an OptionError naming `name`. */
export function checkNumber(name: string, value: unknown, rule: NumberRule = {}): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (rule.integer !== true || Number.isInteger(value)) &&
    (rule.min === undefined || (rule.exclusiveMin === true ? value > rule.min : value >= rule.min)) &&
    (rule.max === undefined || value <= rule.max);
  if (!ok) throw new OptionError(`${name} must be ${describe(rule)} (got ${typeof value === 'string' ? JSON.stringify(value) : String(value)})`);
  return value as number;
}

/** Like checkNumber, but `undefined` passes through (an option left out). */
export function checkOptional(name: string, value: unknown, rule: NumberRule = {}): number | undefined {
  return value === undefined ? undefined : checkNumber(name, value, rule);
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Parses a command-line number strictly (`Number`, not `parseFloat`: "12abc" and "" are errors)
 * and checks it against `rule`; `undefined` when the option was not given.
 */
export function parseNumberOption(name: string, text: string | undefined, rule: NumberRule = {}): number | undefined {
  if (text === undefined) return undefined;
  // Decimal notation only: `Number` would also take "0x10", "0b1" and "Infinity".
  const n = DECIMAL.test(text.trim()) ? Number(text) : Number.NaN;
  return checkNumber(`--${name}`, n, rule);
}

/**
 * Most ONNX Runtime threads per session: more only oversubscribes the cores (and 100000 threads
 * exhaust memory). Read without node:os so this module stays platform-free (browser builds).
 */
const CORES = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 16;
export const MAX_THREADS = Math.max(64, 4 * CORES);
/** Largest pixel limit: 3 bytes per decoded pixel must stay within one buffer (and memory). */
export const MAX_PIXEL_LIMIT = 1_000_000_000;
/** Most landmark refinement rounds: each costs six detector runs per face, and it converges in 2–3. */
export const MAX_REFINE_ROUNDS = 10;
/** Most faces a detector may return per image. */
export const MAX_FACES_LIMIT = 10_000;

export const RULES = Object.freeze({
  scoreThreshold: { min: 0, max: 1 },
  nmsThreshold: { min: 0, max: 1 },
  maxFaces: { min: 1, max: MAX_FACES_LIMIT, integer: true },
  minFacePx: { min: 0, max: 1_000_000 },
  threads: { min: 0, max: MAX_THREADS, integer: true },
  pixelLimit: { min: 1, max: MAX_PIXEL_LIMIT, integer: true },
  refineLandmarks: { min: 0, max: MAX_REFINE_ROUNDS, integer: true },
  minEyeDistancePx: { min: 0, max: 1_000_000 },
  detectorInputSide: { min: 32, max: 1_000_000, integer: true },
  concurrency: { min: 1, max: 64, integer: true },
  workers: { min: 1, max: 64, integer: true },
} satisfies Record<string, NumberRule>);

/** Checks the detection options that are given (any subset of DetectOptions). */
export function checkDetectOptions(d: unknown, prefix = 'detect.'): void {
  if (d === undefined) return;
  if (typeof d !== 'object' || d === null) throw new OptionError(`${prefix.replace(/\.$/, '')} must be an object (got ${String(d)})`);
  const o = d as Record<string, unknown>;
  for (const key of ['scoreThreshold', 'nmsThreshold', 'maxFaces', 'minFacePx'] as const) checkOptional(`${prefix}${key}`, o[key], RULES[key]);
  if (o.scaleToMinFace !== undefined && typeof o.scaleToMinFace !== 'boolean') throw new OptionError(`${prefix}scaleToMinFace must be true or false (got ${String(o.scaleToMinFace)})`);
}

/** Checks createAnalyzer's numeric and boolean options. */
export function checkAnalyzerOptions(options: unknown): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new OptionError(`analyzer options must be an object (got ${String(options)})`);
  const o = options as Record<string, unknown>;
  checkOptional('threads', o.threads, RULES.threads);
  checkOptional('pixelLimit', o.pixelLimit, RULES.pixelLimit);
  checkOptional('refineLandmarks', o.refineLandmarks, RULES.refineLandmarks);
  checkOptional('minEyeDistancePx', o.minEyeDistancePx, RULES.minEyeDistancePx);
  checkOptional('detectorInputSide', o.detectorInputSide, RULES.detectorInputSide);
  for (const key of ['tta', 'embeddings'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw new OptionError(`${key} must be true or false (got ${String(o[key])})`);
  }
  for (const key of ['tasks', 'models'] as const) {
    const v = o[key];
    if (v !== undefined && !(Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== ''))) throw new OptionError(`${key} must be an array of non-empty strings`);
  }
  checkDetectOptions(o.detect);
}

/** Checks the per-call options of analyze / analyzeMany. */
export function checkAnalyzeOptions(options: unknown): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new OptionError(`analyze options must be an object (got ${String(options)})`);
  const o = options as Record<string, unknown>;
  checkDetectOptions(o.detect);
  if (o.tta !== undefined && typeof o.tta !== 'boolean') throw new OptionError(`tta must be true or false (got ${String(o.tta)})`);
  if (o.sourceName !== undefined && typeof o.sourceName !== 'string') throw new OptionError('sourceName must be a string');
  checkOptional('concurrency', o.concurrency, RULES.concurrency);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new OptionError('signal must be an AbortSignal');
}

/**
 * An ImageDecodeError (`INVALID_PIXELS`) for anything that is not a path, bytes or raw pixels:
 * `analyze(null)`, `analyze(42)`, `{ data: null, … }` must not surface as a TypeError deep inside.
 */
export function checkImageInput(input: unknown, sourceName?: string): void {
  const source = sourceName ?? '<input>';
  if (typeof input === 'string') {
    if (input === '') throw new ImageDecodeError('INPUT_NOT_FOUND', 'the path is an empty string', { source: '""' });
    if (input.includes('\0')) throw new ImageDecodeError('INPUT_NOT_FOUND', 'the path contains a NUL byte', { source: JSON.stringify(input) });
    return;
  }
  if (input instanceof Uint8Array) return;
  if (typeof input !== 'object' || input === null) {
    throw new ImageDecodeError('INVALID_PIXELS', `the input must be a file path, image bytes (Uint8Array/Buffer) or raw pixels { data, width, height, channels } (got ${input === null ? 'null' : typeof input})`, { source });
  }
  const raw = input as Record<string, unknown>;
  if (!('width' in raw)) throw new ImageDecodeError('INVALID_PIXELS', 'an object input must be raw pixels { data, width, height, channels }', { source });
  const d = raw.data;
  if (!(d instanceof Uint8Array || d instanceof Uint8ClampedArray)) {
    throw new ImageDecodeError('INVALID_PIXELS', `raw pixels need "data" as a Uint8Array or Uint8ClampedArray (got ${d === null ? 'null' : typeof d})`, { source });
  }
}
