/** Parsers for command-line option values shared by the subcommands; each throws an OptionError naming the option. */
import { OptionError } from '../core/errors.js';
import { parseNumberOption, RULES } from '../core/validate.js';

/** A whole number ≥ 1, or `fallback` when the option is absent. */
export function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number.parseInt(value, 10) < 1) throw new OptionError(`--${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return Number.parseInt(value, 10);
}

/** A finite number, or undefined when the option is absent. */
export function optionalNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new OptionError(`--${name} must be a number (got "${value}")`);
  return n;
}

/** The detector options `analyze` and `video` share: --score-threshold, --max-faces, --min-face (only those given). */
export function detectOptions(values: { readonly 'score-threshold'?: string; readonly 'max-faces'?: string; readonly 'min-face'?: string }): { scoreThreshold?: number; maxFaces?: number; minFacePx?: number } {
  const scoreThreshold = parseNumberOption('score-threshold', values['score-threshold'], RULES.scoreThreshold);
  const maxFaces = parseNumberOption('max-faces', values['max-faces'], RULES.maxFaces);
  const minFacePx = parseNumberOption('min-face', values['min-face'], RULES.minFacePx);
  return {
    ...(scoreThreshold === undefined ? {} : { scoreThreshold }),
    ...(maxFaces === undefined ? {} : { maxFaces }),
    ...(minFacePx === undefined ? {} : { minFacePx }),
  };
}

/** The image-analysis options of `analyze`, `batch run` and `batch submit` (parseArgs declarations). */
export const ANALYSIS_ARGS = {
  tasks: { type: 'string' },
  model: { type: 'string', multiple: true },
  detector: { type: 'string', default: 'yunet' },
  'score-threshold': { type: 'string' },
  'max-faces': { type: 'string' },
  'min-face': { type: 'string' },
  'pixel-limit': { type: 'string' },
  refine: { type: 'string' },
  tta: { type: 'boolean', default: false },
  'models-dir': { type: 'string' },
} as const;

/** --segment-sec / --overlap-sec (batch submit, serve --redis), checked strictly: an overlap shorter than a segment. */
export function segmentOptions(segment: string | undefined, overlap: string | undefined): { segmentSec: number; overlapSec: number } {
  const segmentSec = parseNumberOption('segment-sec', segment, RULES.segmentSec) ?? 60;
  const overlapSec = parseNumberOption('overlap-sec', overlap, RULES.overlapSec) ?? 0.5;
  if (overlapSec >= segmentSec) throw new OptionError(`--overlap-sec must be shorter than --segment-sec (got ${overlapSec} ≥ ${segmentSec})`);
  return { segmentSec, overlapSec };
}
