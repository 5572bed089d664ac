/**
 * Analysis settings of a batch as a plain serialisable value: stored in the batch directory (so a
 * resumed batch analyses the rest the same way), sent to worker processes and put in queue jobs.
 */
import type { DetectorName } from '../core/analyzer.js';
import { OptionError } from '../core/errors.js';
import { parseNumberOption, RULES } from '../core/validate.js';
import type { NodeAnalyzerOptions } from '../node/analyzer.js';
import { detectOptions } from '../cli/options.js';


export interface BatchAnalysisOptions {
  readonly detector: DetectorName;
  readonly tasks?: readonly string[];
  readonly models?: readonly string[];
  readonly detect?: { scoreThreshold?: number; maxFaces?: number; minFacePx?: number };
  readonly refineLandmarks?: number;
  readonly pixelLimit?: number;
  readonly tta: boolean;
  readonly modelsDir?: string;
}

export const ANALYSIS_USAGE = `  --tasks a,b             tasks to run (default: every installed default task)
  --model ID|PATH         extra model to load (repeatable)
  --detector NAME         yunet | yunet-640 | viola-jones | none (default: yunet)
  --score-threshold X     minimum detector score (default: 0.6)
  --max-faces N           at most N faces per image (default: 100)
  --min-face N            ignore faces smaller than N px (default: 20)
  --pixel-limit N         refuse images over N pixels (default: 100000000)
  --refine N              rounds of landmark refinement for rotated faces (default: 0)
  --tta                   average each face with its mirror image
  --models-dir DIR        where models are looked up first (default: $FACESENSE_MODELS)`;

export function analysisOptionsFromArgs(values: {
  readonly tasks?: string | undefined;
  readonly model?: string[] | undefined;
  readonly detector?: string | undefined;
  readonly 'score-threshold'?: string | undefined;
  readonly 'max-faces'?: string | undefined;
  readonly 'min-face'?: string | undefined;
  readonly 'pixel-limit'?: string | undefined;
  readonly refine?: string | undefined;
  readonly tta?: boolean | undefined;
  readonly 'models-dir'?: string | undefined;
}): BatchAnalysisOptions {
  const detector = values.detector ?? 'yunet';
  if (!['yunet', 'yunet-640', 'viola-jones', 'none'].includes(detector)) throw new OptionError(`--detector must be yunet, yunet-640, viola-jones or none (got "${detector}")`);
  const detect = detectOptions(values as Parameters<typeof detectOptions>[0]);
  const pixelLimit = parseNumberOption('pixel-limit', values['pixel-limit'], RULES.pixelLimit);
  const refine = parseNumberOption('refine', values.refine, RULES.refineLandmarks);
  return {
    detector: detector as DetectorName,
    ...(values.tasks === undefined ? {} : { tasks: values.tasks.split(',').map((t) => t.trim()).filter(Boolean) }),
    ...(values.model === undefined ? {} : { models: values.model }),
    ...(Object.keys(detect).length === 0 ? {} : { detect }),
    ...(refine === undefined ? {} : { refineLandmarks: refine }),
    ...(pixelLimit === undefined ? {} : { pixelLimit }),
    tta: values.tta ?? false,
    ...(values['models-dir'] === undefined ? {} : { modelsDir: values['models-dir'] }),
  };
}

/** AnalyzerOptions for createAnalyzer; `threads` is per process, so it is not part of the batch. */
export function toAnalyzerOptions(o: BatchAnalysisOptions, threads?: number): NodeAnalyzerOptions {
  return {
    detector: o.detector,
    ...(o.tasks === undefined ? {} : { tasks: o.tasks }),
    ...(o.models === undefined ? {} : { models: o.models }),
    ...(o.detect === undefined ? {} : { detect: o.detect }),
    ...(o.refineLandmarks === undefined ? {} : { refineLandmarks: o.refineLandmarks }),
    ...(o.pixelLimit === undefined ? {} : { pixelLimit: o.pixelLimit }),
    tta: o.tta,
    ...(threads === undefined ? {} : { threads }),
    ...(o.modelsDir === undefined ? {} : { store: { modelsDir: o.modelsDir } }),
  };
}
