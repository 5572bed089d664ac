/**
 * Typed per-task results: what `face.attributes.<task>` holds for the tasks facesense knows, so
 * `face.attributes.emotion?.label` is a union of emotion names and `face.attributes.age?.value` a
 * number, under `strict`, without casts. Other tasks (a custom model's) stay `TaskResult`.
 */
import type { TaskResult } from './postprocess.js';

/** The class labels of every shipped model, by task (the union over models: FER+, FER2013 and CK+ name emotions differently). */
export const TASK_LABELS = Object.freeze({
  emotion: Object.freeze([
    'neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt', // FER+
    'angry', 'happy', 'sad', // FER2013 (disgust, fear, surprise, neutral as above)
  ] as const),
  gender: Object.freeze(['male', 'female'] as const),
  ethnicity: Object.freeze(['White', 'Black', 'Asian', 'Indian', 'Others'] as const),
  glasses: Object.freeze(['none', 'eyeglasses', 'sunglasses'] as const),
  beard: Object.freeze(['none', 'light', 'heavy'] as const),
  moustache: Object.freeze(['none', 'light', 'heavy'] as const),
});

export type EmotionLabel = (typeof TASK_LABELS.emotion)[number];
export type GenderLabel = (typeof TASK_LABELS.gender)[number];
export type EthnicityLabel = (typeof TASK_LABELS.ethnicity)[number];
export type GlassesLabel = (typeof TASK_LABELS.glasses)[number];
export type FacialHairLabel = (typeof TASK_LABELS.beard)[number];

export type ClassResult<L extends string = string> = Extract<TaskResult, { kind: 'class' }> & { readonly label: L; readonly scores: Readonly<Partial<Record<L, number>>> };
export type ValueResult = Extract<TaskResult, { kind: 'value' }>;
export type MultilabelResult = Extract<TaskResult, { kind: 'multilabel' }>;
export type ValuesResult = Extract<TaskResult, { kind: 'values' }>;

/** The attributes of one face: the known tasks typed, any other task a plain TaskResult. */
export type FaceAttributes = {
  readonly emotion?: ClassResult<EmotionLabel>;
  /** Age in years (`value`), with its bands when the manifest defines them. */
  readonly age?: ValueResult;
  readonly gender?: ClassResult<GenderLabel>;
  readonly ethnicity?: ClassResult<EthnicityLabel>;
  readonly glasses?: ClassResult<GlassesLabel>;
  readonly beard?: ClassResult<FacialHairLabel>;
  readonly moustache?: ClassResult<FacialHairLabel>;
} & { readonly [task: string]: TaskResult };

export function isClassResult(r: TaskResult | undefined): r is ClassResult {
  return r?.kind === 'class';
}

export function isValueResult(r: TaskResult | undefined): r is ValueResult {
  return r?.kind === 'value';
}

export function isMultilabelResult(r: TaskResult | undefined): r is MultilabelResult {
  return r?.kind === 'multilabel';
}

export function isValuesResult(r: TaskResult | undefined): r is ValuesResult {
  return r?.kind === 'values';
}

/** True when `r` is a class result whose label is one of `labels` (narrows the label to their union). */
export function hasLabelIn<L extends string>(r: TaskResult | undefined, labels: readonly L[]): r is ClassResult<L> {
  return r?.kind === 'class' && (labels as readonly string[]).includes(r.label);
}
