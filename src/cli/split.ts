/**
 * `split`: writes the project's fixed, seeded UTKFace split list (data/splits/utkface-part1.json)
 * from an unpacked dataset, so anyone can regenerate and check it. Runs as
 * `node dist/src/cli/split.js --root DIR` (or as a `facesense split` subcommand once registered).
 * Exit codes: 0 written, 1 dataset problem, 2 usage error.
 */
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isFacesenseError, OptionError } from '../core/errors.js';
import { isDirectory } from '../data/loaders/common.js';
import { DEFAULT_UTK_SPLIT_FILE, DEFAULT_UTK_SPLIT_SEED, writeUtkfaceSplitFile } from '../data/loaders/utkface.js';
import type { PrepareIO } from './prepare.js';

export const SPLIT_USAGE = `Usage: node dist/src/cli/split.js --root DIR [--out FILE] [--seed N] [--appearance FILE]

Writes the seeded 80/10/10 UTKFace split list: file names only, names without valid labels left
out and listed under "excluded". The result depends only on the set of file names and the seed.

Options:
  --root DIR          UTKFace folder (crop_part1/ or a folder holding it)
  --out FILE          split file to write (default: ${DEFAULT_UTK_SPLIT_FILE})
  --seed N            shuffle seed (default: ${DEFAULT_UTK_SPLIT_SEED})
  --appearance FILE   also count the appearance-labelled faces per split (utkface-appearance.tsv)
  -h, --help          show this help
`;

const PROCESS_IO: PrepareIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function runSplit(args: string[], io: PrepareIO = PROCESS_IO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        root: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        appearance: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
    if (values.help) {
      io.stdout(SPLIT_USAGE);
      return 0;
    }
    if (values.root === undefined) throw new OptionError('missing --root');
    if (values.seed !== undefined && !/^\d+$/.test(values.seed)) throw new OptionError(`--seed must be a non-negative integer, got ${JSON.stringify(values.seed)}`);
  } catch (e) {
    io.stderr(`split: ${e instanceof Error ? e.message : String(e)}\n\n${SPLIT_USAGE}`);
    return 2;
  }
  const root = values.root;
  const out = values.out ?? DEFAULT_UTK_SPLIT_FILE;
  try {
    const imageDir = (await isDirectory(join(root, 'crop_part1'))) ? join(root, 'crop_part1') : root;
    const split = await writeUtkfaceSplitFile(imageDir, out, {
      ...(values.seed === undefined ? {} : { seed: Number.parseInt(values.seed, 10) }),
      ...(values.appearance === undefined ? {} : { appearance: values.appearance }),
    });
    const lines = [`Split written to ${out} (seed ${split.seed}): ${Object.entries(split.counts).map(([s, n]) => `${s} ${n}`).join(', ')}`];
    if (split.appearanceCounts !== undefined) lines.push(`Appearance-labelled faces: ${Object.entries(split.appearanceCounts).map(([s, n]) => `${s} ${n}`).join(', ')}`);
    const excluded = split.excluded ?? [];
    lines.push(`Left out: ${excluded.length}`);
    for (const x of excluded) lines.push(`  ${x.file}: ${x.reason}`);
    io.stdout(`${lines.join('\n')}\n`);
    return 0;
  } catch (e) {
    if (isFacesenseError(e)) {
      io.stderr(`split: ${e.name} [${e.code}] ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** True when this module is the script node was started with (not an import). */
function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  void runSplit(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
