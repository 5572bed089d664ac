import { createAnalyzerWith, type Analyzer, type AnalyzerOptions } from '../core/analyzer.js';
import { OptionError } from '../core/errors.js';
import type { ModelStoreOptions } from './models/store.js';
import { nodePlatform, type NodeDetectorResize } from './platform.js';

export interface NodeAnalyzerOptions extends AnalyzerOptions {
  /** Where models are looked up (see ModelStoreOptions). */
  readonly store?: ModelStoreOptions;
  /** The detector's input resize: sharp (faster on large photos) or the browser's pure-TypeScript one. @default 'sharp' */
  readonly detectorResize?: NodeDetectorResize;
}

/** The analyzer in Node: sharp decoding, onnxruntime-node, models from the file-system store. */
export async function createAnalyzer(options: NodeAnalyzerOptions = {}): Promise<Analyzer> {
  const { store, detectorResize, ...rest } = options;
  if (detectorResize !== undefined && detectorResize !== 'sharp' && detectorResize !== 'portable') throw new OptionError(`detectorResize must be 'sharp' or 'portable' (got ${String(detectorResize)})`);
  return createAnalyzerWith(nodePlatform(store, detectorResize), rest);
}
