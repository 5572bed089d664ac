/**
 * `facesense merge-packs --pack A --pack B ... --out DIR`: one training pack from several with the
 * same image size and face framing (src/data/merge-packs.ts), for joint multi-task training.
 */
import { parseArgs } from 'node:util';
import { mergePacks } from '../data/merge-packs.js';
import { OptionError } from '../core/errors.js';

export const MERGE_PACKS_USAGE = `Usage: facesense merge-packs --pack DIR --pack DIR [--pack DIR ...] --out DIR

Concatenates training packs split by split into one pack whose rows carry every target of every
pack: a target a pack lacks is written as missing (class -1, value NaN), so a joint multi-task
network (training/configs/joint-*.json) trains each head only on the rows labelled for it. The
packs must have the same image size and channels and the same face framing (prepare UTKFace with
--size 48 --channels 1 --eye-distance/--eye-y of the FER+ pack's measured framing to join FER+);
a target two packs share must have the same kind and classes.

Options:
  --pack DIR    an input pack (repeat; at least two)
  --out DIR     the pack to write
  -h, --help    this text
`;

export async function runMergePacks(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { pack: { type: 'string', multiple: true }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    process.stdout.write(MERGE_PACKS_USAGE);
    return 0;
  }
  const packs = values.pack ?? [];
  if (packs.length < 2) throw new OptionError('give at least two --pack folders');
  if (values.out === undefined) throw new OptionError('missing --out');
  const meta = await mergePacks(packs, values.out);
  const lines = [`merge-packs: ${packs.join(' + ')} → ${values.out} (${meta.image.width}×${meta.image.height}×${meta.image.channels}, targets ${meta.targets.map((t) => t.name).join(', ')})`];
  for (const [split, s] of Object.entries(meta.splits)) {
    const miss = Object.entries(s.missing ?? {}).map(([t, n]) => `${t} ${n}`).join(', ');
    lines.push(`  ${split}: ${s.count} rows${miss === '' ? '' : `; unlabelled: ${miss}`}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
