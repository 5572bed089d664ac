/**
 * Maps a model's labels onto a dataset's classes by name, through synonyms, so that a model
 * trained on one emotion dataset can be measured on another (FER2013 "happy" is FER+ "happiness"
 * and CK+ "happy"; FER2013 "angry" is FER+ and CK+ "anger"; FER2013 "sad" is "sadness").
 */

/** Canonical name → names that mean the same class. Names not listed map to themselves. */
const SYNONYMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  anger: ['angry', 'anger'],
  contempt: ['contempt', 'contemptuous'],
  disgust: ['disgust', 'disgusted'],
  fear: ['fear', 'fearful', 'afraid', 'scared'],
  happiness: ['happy', 'happiness', 'joy'],
  neutral: ['neutral'],
  sadness: ['sad', 'sadness'],
  surprise: ['surprise', 'surprised'],
});

const CANONICAL: ReadonlyMap<string, string> = new Map(Object.entries(SYNONYMS).flatMap(([c, names]) => names.map((n) => [n, c] as const)));

/** Canonical form of a label name (lower case, synonyms folded). */
export function canonicalLabel(name: string): string {
  const key = name.trim().toLowerCase();
  return CANONICAL.get(key) ?? key;
}

export interface LabelMap {
  /** True when the model's labels are exactly the dataset's classes (any order). */
  readonly identity: boolean;
  /** Dataset classes with a model counterpart, in dataset order: the classes measured. */
  readonly classes: readonly string[];
  /** For each measured class, indices (into the model's labels) whose scores it takes. */
  readonly sources: readonly (readonly number[])[];
  /** Measured class → the model labels it came from. */
  readonly mapped: readonly { readonly class: string; readonly modelLabels: readonly string[] }[];
  /** Dataset classes no model label maps to: their samples cannot be measured. */
  readonly unmatchedClasses: readonly string[];
  /** Model labels that map to no dataset class: their scores are dropped. */
  readonly droppedLabels: readonly string[];
}

export function buildLabelMap(modelLabels: readonly string[], datasetClasses: readonly string[]): LabelMap {
  const canon = modelLabels.map(canonicalLabel);
  const rows = datasetClasses.map((c) => {
    const key = canonicalLabel(c);
    return { class: c, sources: canon.flatMap((m, i) => (m === key ? [i] : [])) };
  });
  const measured = rows.filter((r) => r.sources.length > 0);
  const used = new Set(measured.flatMap((r) => r.sources));
  const identity = modelLabels.length === datasetClasses.length && datasetClasses.every((c) => modelLabels.includes(c));
  return {
    identity,
    classes: measured.map((r) => r.class),
    sources: measured.map((r) => r.sources),
    mapped: measured.map((r) => ({ class: r.class, modelLabels: r.sources.map((i) => modelLabels[i]!) })),
    unmatchedClasses: rows.filter((r) => r.sources.length === 0).map((r) => r.class),
    droppedLabels: modelLabels.filter((_, i) => !used.has(i)),
  };
}

/**
 * A model's scores (in its label order) → scores over the measured classes, renormalised to sum
 * to 1 (the distribution conditioned on the measured classes). Zero mass on them gives a uniform
 * distribution.
 */
export function mapScores(map: LabelMap, modelScores: readonly number[]): number[] {
  const raw = map.sources.map((src) => src.reduce((a, i) => a + modelScores[i]!, 0));
  const total = raw.reduce((a, b) => a + b, 0);
  return total > 0 ? raw.map((v) => v / total) : raw.map(() => 1 / raw.length);
}
