/**
 * A model's manifest checked against its ONNX graph when the session loads: the input's name,
 * channels and size, the outputs' names, and each output's size per face against the manifest's
 * labels (one dry run on a blank batch of one). A mismatch is MODEL_INVALID listing every
 * difference, before any image is read, instead of a raw ONNX Runtime stack on the first image
 * (which cost the whole batch) or silent nonsense (labels that do not match the outputs).
 */
import { ModelError } from '../errors.js';
import type { InferenceSession, TensorData } from '../platform.js';
import type { ModelManifest } from './manifest.js';

/** The parts of a platform session (src/core/platform.ts) the check uses. */
type Session = Pick<InferenceSession, 'inputNames' | 'outputNames' | 'inputShape' | 'run'>;

function fail(source: string, id: string, problems: readonly string[]): never {
  throw new ModelError('MODEL_INVALID', `the manifest of ${id} does not match its ONNX graph: ${problems.join('; ')}`, { source });
}

/** Output names the graph lacks, as problems. */
export function missingOutputs(session: Pick<InferenceSession, 'outputNames'>, names: readonly string[]): string[] {
  const have = new Set(session.outputNames);
  return names.filter((n) => !have.has(n)).map((n) => `output "${n}" is not in the graph (it has ${session.outputNames.map((o) => `"${o}"`).join(', ')})`);
}

export async function checkManifestAgainstGraph(session: Session, manifest: ModelManifest, source: string): Promise<void> {
  const { input } = manifest;
  const problems: string[] = [];
  if (!session.inputNames.includes(input.name)) problems.push(`input "${input.name}" is not in the graph (it has ${session.inputNames.map((n) => `"${n}"`).join(', ')})`);
  const expected = input.layout === 'NCHW' ? [input.channels, input.height, input.width] : [input.height, input.width, input.channels];
  const what = input.layout === 'NCHW' ? ['channels', 'height', 'width'] : ['height', 'width', 'channels'];
  const shape = problems.length === 0 ? session.inputShape(input.name) : undefined;
  if (shape !== undefined) {
    if (shape.length !== 4) problems.push(`input "${input.name}" has ${shape.length} dimensions in the graph, the manifest describes 4 (${input.layout})`);
    else {
      expected.forEach((v, i) => {
        const g = shape[i + 1];
        if (typeof g === 'number' && g > 0 && g !== v) problems.push(`input ${what[i]} is ${g} in the graph, ${v} in the manifest`);
      });
    }
  }
  const outputs: { name: string; size: number; what: string }[] = [
    ...manifest.outputs.map((o) => ({ name: o.name, size: o.labels.length, what: `task ${o.task} has ${o.labels.length} labels` })),
    ...(manifest.embedding === undefined ? [] : [{ name: manifest.embedding.name, size: manifest.embedding.size, what: `the embedding size is ${manifest.embedding.size}` }]),
    ...(manifest.activations ?? []).map((a) => ({ name: a.name, size: a.channels * a.height * a.width, what: `layer ${a.layer} is ${a.channels}×${a.height}×${a.width}` })),
  ];
  problems.push(...missingOutputs(session, outputs.map((o) => o.name)));
  if (problems.length > 0) fail(source, manifest.id, problems);
  // One blank face through the graph: the only way to learn output sizes with symbolic dims.
  const dims = [1, ...expected];
  let result: Record<string, TensorData>;
  try {
    result = await session.run({ [input.name]: { data: new Float32Array(input.width * input.height * input.channels), dims } }, outputs.map((o) => o.name));
  } catch (cause) {
    throw new ModelError('MODEL_INVALID', `the manifest of ${manifest.id} does not match its ONNX graph: a ${dims.join('×')} input (${input.layout}, as the manifest says) does not run (${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)})`, { source, cause });
  }
  for (const o of outputs) {
    const n = result[o.name]?.data.length;
    if (n !== o.size) problems.push(`output "${o.name}" gives ${n ?? 'no'} numbers per face, but ${o.what}`);
  }
  if (problems.length > 0) fail(source, manifest.id, problems);
}
