import { createAnalyzerWith, type Analyzer, type AnalyzerOptions } from '../core/analyzer.js';
import type { ModelStoreOptions } from './models/store.js';
import { nodePlatform } from './platform.js';

export interface NodeAnalyzerOptions extends AnalyzerOptions {
  /** Where models are looked up (see ModelStoreOptions). */
  readonly store?: ModelStoreOptions;
}

/** The analyzer in Node: sharp decoding, onnxruntime-node, models from the file-system store. */
export function createAnalyzer(options: NodeAnalyzerOptions = {}): Promise<Analyzer> {
  const { store, ...rest } = options;
  return createAnalyzerWith(nodePlatform(store), rest);
}
