import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rm } from 'node:fs/promises';
import { runSplit } from '../src/cli/split.js';
import type { PrepareIO } from '../src/cli/prepare.js';
import { readUtkSplitFile } from '../src/data/loaders/utkface.js';
import { UTK, writeText, writeUtkface } from './fixtures/datasets.js';
import { tempDir } from './helpers/media.js';

function capture(): PrepareIO & { out: string; err: string } {
  const c = {
    out: '',
    err: '',
    stdout: (t: string) => {
      c.out += t;
    },
    stderr: (t: string) => {
      c.err += t;
    },
  };
  return c;
}

describe('UTKFace split generator (node dist/src/cli/split.js)', () => {
  let tmp = '';
  let root = '';
  let tsv = '';
  before(async () => {
    tmp = await tempDir('facesense-split-');
    root = join(tmp, 'utk');
    await writeUtkface(root);
    tsv = join(tmp, 'appearance.tsv');
    await writeText(tsv, ['file\tglasses\tbeard\tmoustache\tunsure\tannotators', `${UTK.a}\t1\t0\t0\t0\ta`, `${UTK.c}\t0\t2\t1\t1\ta+b`].join('\n') + '\n');
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('writes the same file on every run, names only, malformed names reported and left out', async () => {
    const first = join(tmp, 'out', 'a.json');
    const io = capture();
    assert.equal(await runSplit(['--root', root, '--out', first, '--seed', '3', '--appearance', tsv], io), 0, io.err);
    const split = await readUtkSplitFile(first);
    const listed = Object.values(split.splits).flat().sort();
    assert.deepEqual(listed, [UTK.a, UTK.b, UTK.c, UTK.unlisted].sort());
    assert.deepEqual(split.excluded?.map((x) => x.file).sort(), [UTK.badRace, UTK.malformed].sort());
    assert.equal(split.seed, 3);
    assert.equal(Object.values(split.appearanceCounts ?? {}).reduce((a, b) => a + b, 0), 2);
    assert.match(io.out, /Left out: 2/);
    assert.match(io.out, new RegExp(`${UTK.malformed}: malformed UTKFace name`));

    const second = join(tmp, 'out', 'b.json');
    assert.equal(await runSplit(['--root', join(root, 'crop_part1'), '--out', second, '--seed', '3', '--appearance', tsv], capture()), 0);
    assert.equal(await readFile(second, 'utf8'), await readFile(first, 'utf8'), 'deterministic: byte-identical on a rerun');
  });

  it('answers usage errors with 2 and a missing folder with 1', async () => {
    for (const args of [[], ['--root', root, '--seed', 'x'], ['--bogus']]) {
      const io = capture();
      assert.equal(await runSplit(args, io), 2, args.join(' '));
      assert.match(io.err, /^split: /);
    }
    const io = capture();
    assert.equal(await runSplit(['--root', join(tmp, 'absent'), '--out', join(tmp, 'x.json')], io), 1);
    assert.match(io.err, /INPUT_NOT_FOUND/);
    const help = capture();
    assert.equal(await runSplit(['--help'], help), 0);
    assert.match(help.out, /Usage: node dist\/src\/cli\/split\.js/);
  });
});
