/**
 * `facesense teach --model ID|PATH --pack DIR`: a teacher model's predicted distributions written
 * into a training pack as targets, for distilling it into a small student (src/data/teach.ts).
 */
import { parseArgs } from 'node:util';
import { OptionError } from '../core/errors.js';
import { teachPack } from '../data/teach.js';
import { createModelStore } from '../node/models/store.js';
import { createClassifier } from '../node/platform.js';
import { positiveInt } from './options.js';
import { createProgress } from './progress.js';

export const TEACH_USAGE = `Usage: facesense teach --model ID|PATH --pack DIR [options]

Runs a teacher model (an accuracy-first ensemble, say) over every row of every split of a training
pack and writes its predicted distributions into the pack as targets named <prefix><task>:
softmax outputs give class probabilities, expectation outputs (age) their distribution over the
bins, sigmoid outputs per-label probabilities. A student config learns them with
  "losses": {"teacher_gender": {"loss": "soft_ce", "output": "gender", "weight": 1}}
beside its own labels (training/README.md, distillation). The teacher must frame faces as the pack
does (same eye distance and height); rows are the pack's crops resized to the teacher's input.
Running it again with the same prefix replaces the targets.

Options:
  --model ID|PATH   teacher model (id from \`facesense models\`, or a manifest path)
  --pack DIR        pack to write into (from facesense prepare / merge-packs)
  --prefix TEXT     target name prefix (default teacher_)
  --no-tta          one view per row (default: the mean of the crop's and its mirror image's logits)
  --batch N         crops per inference call (default 64)
  --threads N       ONNX Runtime threads (default: one per core)
  -h, --help        this text`;

export async function runTeach(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      model: { type: 'string' },
      pack: { type: 'string' },
      prefix: { type: 'string', default: 'teacher_' },
      'no-tta': { type: 'boolean', default: false },
      batch: { type: 'string' },
      threads: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${TEACH_USAGE}\n`);
    return 0;
  }
  if (values.model === undefined || values.pack === undefined) throw new OptionError('--model and --pack are required');
  const batch = positiveInt('batch', values.batch, 64);
  const threads = values.threads === undefined ? {} : { threads: positiveInt('threads', values.threads, 1) };
  const resolved = await createModelStore().resolveModel(values.model);
  const classifier = await createClassifier(resolved.modelPath, resolved.manifest, threads);
  let progress: ReturnType<typeof createProgress> | undefined;
  let current = '';
  let last = 0;
  const started = Date.now();
  try {
    const result = await teachPack(values.pack, classifier, {
      prefix: values.prefix,
      tta: !values['no-tta'],
      batch,
      onProgress: (split, done, total) => {
        if (split !== current) {
          progress?.done();
          progress = createProgress(`teach ${split}`, total);
          current = split;
          last = 0;
        }
        progress!.tick(done - last);
        last = done;
      },
    });
    progress?.done();
    const rows = Object.entries(result.rows).map(([s, n]) => `${s} ${n}`).join(', ');
    process.stdout.write(
      `teach: ${resolved.manifest.id} → ${values.pack}: ${result.targets.map((t) => `${t.name} (${t.classes?.length ?? 0})`).join(', ')}; rows ${rows}; ${((Date.now() - started) / 1000).toFixed(1)} s` +
        `${result.leftOut.length === 0 ? '' : `; not taught (no distribution): ${result.leftOut.join(', ')}`}\n`,
    );
  } finally {
    await classifier.dispose();
  }
  return 0;
}
