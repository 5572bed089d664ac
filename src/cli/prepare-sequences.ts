/**
 * `facesense prepare-sequences`: per-frame embeddings and class probabilities of an image model for
 * every frame of every labelled sequence of a dataset (CK+48, or the original CK+ release with
 * whole onset-to-apex clips), written as a sequence pack (src/data/sequence-pack.ts) for
 * `python -m training.sequence`.
 * Exit codes: 0 done, 1 dataset or model problem, 2 usage error.
 */
import { parseArgs } from 'node:util';
import { type Analyzer, type DetectorName } from '../core/analyzer.js';
import { createAnalyzer } from '../node/analyzer.js';
import { createCkplusLoader, DEFAULT_CKPLUS_FOLDS, DEFAULT_CKPLUS_SEED } from '../data/loaders/ckplus.js';
import { writeSequencePack, type FrameFn } from '../data/sequence-pack.js';
import { ModelError, OptionError } from '../core/errors.js';
import { buildLabelMap } from '../eval/label-map.js';
import { createModelStore } from '../node/models/store.js';
import { positiveInt } from './options.js';

export const DEFAULT_SEQUENCE_FRAME_MODEL = 'emotion-ferplus';

export const PREPARE_SEQUENCES_USAGE = `Usage: facesense prepare-sequences --root DIR --out DIR [options]

Runs an image model over every frame of every labelled sequence of a dataset and writes a
sequence pack: embeddings.npy (float32 [frames, D], the model's embedding output), scores.npy
(float32 [frames, K], its class probabilities) and meta.json (per sequence: id, subject, label,
fold, first frame, length). Train sequence models on it with python -m training.sequence.

Options:
  --layout ckplus        dataset layout (only ckplus: CK+48, or the original release)
  --root DIR             dataset root
  --out DIR              pack folder to write
  --model ID|PATH        frame model; its manifest must declare an embedding (default: ${DEFAULT_SEQUENCE_FRAME_MODEL})
  --task NAME            the frame model's class task whose scores are kept (default: emotion)
  --detector NAME        none (inputs are face crops: CK+48) | yunet | yunet-640 | viola-jones
                         (whole-scene frames: the original CK+ release) (default: none)
  --frames all|N         original layout: frames per sequence, from the apex back (default: all)
  --folds K              subject-independent folds (default: ${DEFAULT_CKPLUS_FOLDS})
  --seed N               seed of the fold assignment (default: ${DEFAULT_CKPLUS_SEED})
  --threads N            ONNX Runtime threads (default: 1)
  --models-dir DIR       where models are looked up first (default: $FACESENSE_MODELS)
  --strict               stop at the first frame that cannot be analysed
  -h, --help             this text
`;

const DETECTORS: readonly string[] = ['none', 'yunet', 'yunet-640', 'viola-jones'];

/** The analyzer as a frame function: the largest face's embedding and the task's probabilities in label order. */
export function analyzerFrameFn(analyzer: Analyzer, modelId: string, task: string, labels: readonly string[]): FrameFn {
  return async (sample) => {
    if (sample.image.kind !== 'file') throw new OptionError(`sample ${sample.id} is not a file; prepare-sequences reads image files`);
    const result = await analyzer.analyze(sample.image.path);
    const faces = result.faces.filter((f) => f.skipped === undefined);
    if (faces.length === 0) return null;
    const face = faces.reduce((a, b) => (b.boxPx.width * b.boxPx.height > a.boxPx.width * a.boxPx.height ? b : a));
    const embedding = face.embeddings?.[modelId];
    const r = face.attributes[task];
    if (embedding === undefined) throw new ModelError('MODEL_INVALID', `model ${modelId} returned no embedding`, { source: sample.image.path });
    if (r?.kind !== 'class') throw new ModelError('MODEL_INVALID', `model ${modelId} returned no class scores for task ${task}`, { source: sample.image.path });
    return { embedding: Float32Array.from(embedding), scores: Float32Array.from(labels, (l) => r.scores[l] ?? 0) };
  };
}

function parseFrames(value: string | undefined): number | 'all' {
  if (value === undefined || value === 'all') return 'all';
  return positiveInt('frames', value, 1);
}

export async function runPrepareSequences(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      layout: { type: 'string', default: 'ckplus' },
      root: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string', default: DEFAULT_SEQUENCE_FRAME_MODEL },
      task: { type: 'string', default: 'emotion' },
      detector: { type: 'string', default: 'none' },
      frames: { type: 'string' },
      folds: { type: 'string' },
      seed: { type: 'string' },
      threads: { type: 'string' },
      'models-dir': { type: 'string' },
      strict: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(PREPARE_SEQUENCES_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new OptionError(`unexpected argument ${JSON.stringify(positionals[0])}; the dataset is given by --root`);
  if (values.layout !== 'ckplus') throw new OptionError(`--layout must be ckplus (got ${JSON.stringify(values.layout)}): only CK+ has labelled sequences`);
  if (values.root === undefined || values.out === undefined) throw new OptionError('--root and --out are required');
  if (!DETECTORS.includes(values.detector)) throw new OptionError(`--detector must be one of ${DETECTORS.join(', ')} (got ${JSON.stringify(values.detector)})`);
  const threads = positiveInt('threads', values.threads, 1);
  const store = { ...(values['models-dir'] === undefined ? {} : { modelsDir: values['models-dir'] }) };
  const resolved = await createModelStore(store).resolveModel(values.model);
  const { manifest } = resolved;
  if (manifest.embedding === undefined) {
    throw new ModelError('MODEL_INVALID', `model ${manifest.id} declares no embedding output; re-export it with training/export.py`, { source: resolved.manifestPath });
  }
  const output = manifest.outputs.find((o) => o.task === values.task);
  if (output?.decode !== 'softmax') throw new OptionError(`model ${manifest.id} has no softmax task "${values.task}" (it has ${manifest.outputs.map((o) => o.task).join(', ')})`);

  const loader = createCkplusLoader({
    root: values.root,
    folds: positiveInt('folds', values.folds, DEFAULT_CKPLUS_FOLDS),
    seed: positiveInt('seed', values.seed, DEFAULT_CKPLUS_SEED),
    peakFrames: parseFrames(values.frames),
    strict: values.strict,
  });
  const classes = loader.targets[0]?.classes ?? [];
  const map = buildLabelMap(output.labels, classes);
  const scoreSources = classes.map((c) => map.sources[map.classes.indexOf(c)] ?? []);

  const analyzer = await createAnalyzer({
    models: [resolved.modelPath],
    tasks: [values.task],
    detector: values.detector as DetectorName,
    embeddings: true,
    threads,
    store,
  });
  const started = Date.now();
  try {
    const meta = await writeSequencePack(loader, analyzerFrameFn(analyzer, manifest.id, values.task, output.labels), {
      out: values.out,
      frameModel: { id: manifest.id, ...(manifest.sha256 === undefined ? {} : { sha256: manifest.sha256 }), detector: values.detector },
      embeddingSize: manifest.embedding.size,
      scores: { task: values.task, labels: output.labels },
      scoreSources,
      strict: values.strict,
      onProgress: (done, total) => {
        if (process.stderr.isTTY) process.stderr.write(`\rprepare-sequences: ${done}/${total} frames`);
      },
    });
    if (process.stderr.isTTY) process.stderr.write('\n');
    const lengths = meta.sequences.map((s) => s.length);
    process.stdout.write(
      `Sequence pack written to ${values.out} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${meta.sequences.length} sequences, ${meta.frames} frames ` +
        `(${lengths.length === 0 ? 'none' : `${Math.min(...lengths)}..${Math.max(...lengths)}`} per sequence), ${new Set(meta.sequences.map((s) => s.subject)).size} subjects, ${meta.folds} folds; ` +
        `embeddings ${meta.embedding.size}-d from ${manifest.id}\n` +
        `Classes without a ${manifest.id} label: ${map.unmatchedClasses.join(', ') || 'none'}; labels dropped: ${map.droppedLabels.join(', ') || 'none'}\n` +
        `Skipped: ${meta.skipped.count}${meta.skipped.items.slice(0, 5).map((p) => `\n  ${p.file}: ${p.reason}`).join('')}\n`,
    );
    return 0;
  } finally {
    await analyzer.dispose();
  }
}
