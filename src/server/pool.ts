/**
 * Loaded analyzers by model configuration (detector, models, tasks). The default one stays; up to
 * `maxExtra` others are kept for clients that ask for other models or tasks, the least recently
 * used unused one disposed to make room.
 */
import type { Analyzer, DetectorName } from '../core/analyzer.js';
import { createAnalyzer, type NodeAnalyzerOptions as AnalyzerOptions } from '../node/analyzer.js';
import { FacesenseError } from '../core/errors.js';

export interface ModelChoice {
  readonly detector?: DetectorName;
  readonly models?: readonly string[];
  readonly tasks?: readonly string[];
}

export interface AnalyzerPool {
  /** Runs `fn` with the analyzer for `choice` (loading it if needed); it is not disposed while in use. */
  use<T>(choice: ModelChoice, fn: (a: Analyzer) => Promise<T>): Promise<T>;
  /** `choice` with the server's defaults filled in (for a job that loads its own analyzer). */
  withDefaults(choice: ModelChoice): ModelChoice;
  /** The default configuration's analyzer (loaded at start). */
  readonly defaultAnalyzer: Promise<Analyzer>;
  dispose(): Promise<void>;
}

interface Entry {
  readonly analyzer: Promise<Analyzer>;
  refs: number;
  lastUsed: number;
}

export function createAnalyzerPool(base: AnalyzerOptions, defaults: ModelChoice, maxExtra = 4): AnalyzerPool {
  const entries = new Map<string, Entry>();
  const keyOf = (c: ModelChoice) => JSON.stringify([c.detector ?? defaults.detector ?? 'yunet', c.models ?? defaults.models ?? [], c.tasks ?? defaults.tasks ?? null]);
  const defaultKey = keyOf(defaults);
  const withDefaults = (c: ModelChoice): ModelChoice => {
    const [detector, models, tasks] = [c.detector ?? defaults.detector, c.models ?? defaults.models, c.tasks ?? defaults.tasks];
    return { ...(detector === undefined ? {} : { detector }), ...(models === undefined ? {} : { models }), ...(tasks === undefined ? {} : { tasks }) };
  };
  const open = (c: ModelChoice): Entry => {
    const { detector, models, tasks } = c;
    const analyzer = createAnalyzer({ ...base, ...(detector === undefined ? {} : { detector }), ...(models === undefined ? {} : { models }), ...(tasks === undefined ? {} : { tasks }) });
    return { analyzer, refs: 0, lastUsed: Date.now() };
  };
  const first = open(defaults);
  entries.set(defaultKey, first);
  let disposed = false;

  function entryFor(choice: ModelChoice): Entry {
    const key = keyOf(choice);
    let e = entries.get(key);
    if (e !== undefined) return e;
    if (entries.size - 1 >= maxExtra) {
      const spare = [...entries].filter(([k, v]) => k !== defaultKey && v.refs === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed)[0];
      if (spare === undefined) throw new FacesenseError('OVERLOADED', `${maxExtra} other model configurations are in use; retry later or use the default models`);
      entries.delete(spare[0]);
      void spare[1].analyzer.then((a) => a.dispose(), () => undefined);
    }
    e = open(withDefaults(choice));
    entries.set(key, e);
    // A configuration that fails to load (unknown model) is not kept.
    e.analyzer.catch(() => entries.get(key) === e && entries.delete(key));
    return e;
  }

  return {
    defaultAnalyzer: first.analyzer,
    withDefaults,
    async use(choice, fn) {
      if (disposed) throw new FacesenseError('DISPOSED', 'the server is shutting down');
      const e = entryFor(choice);
      e.refs++;
      e.lastUsed = Date.now();
      try {
        return await fn(await e.analyzer);
      } finally {
        e.refs--;
      }
    },
    async dispose() {
      disposed = true;
      const all = [...entries.values()];
      entries.clear();
      await Promise.all(all.map((e) => e.analyzer.then((a) => a.dispose(), () => undefined)));
    },
  };
}
