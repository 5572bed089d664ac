import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { openLedger, recoverLedger } from '../src/batch/ledger.js';
import { createRateMeter } from '../src/batch/progress.js';
import { BIN, cli, CLI_ENV } from './helpers/cli.js';
import { imageDir } from './helpers/batch-inputs.js';
import { media, tempDir } from './helpers/media.js';



const lines = async (p: string) => (await readFile(p, 'utf8')).split('\n').filter((l) => l !== '');

test('ledger: a torn last line is cut away on recovery, earlier records are kept', async () => {
  const dir = await tempDir();
  const path = join(dir, 'log.jsonl');
  const l = await openLedger<{ source: string }>(path);
  await Promise.all(['a', 'b', 'c'].map((source) => l.append({ source })));
  await l.close();
  await appendFile(path, '{"source":"d","ok":tr');
  const seen: string[] = [];
  const r = await recoverLedger<{ source: string }>(path, (x) => seen.push(x.source));
  assert.deepEqual(seen.sort(), ['a', 'b', 'c']);
  assert.equal(r.truncatedBytes, '{"source":"d","ok":tr'.length);
  assert.equal((await readFile(path, 'utf8')).split('\n').length, 4, 'file ends after the third record');
  await writeFile(path, '{"source":"a"}\nbroken\n{"source":"c"}\n');
  await assert.rejects(recoverLedger(path, () => undefined), { code: 'BATCH_STATE' });
});

test('rate meter: rate over the recent window and ETA', () => {
  let t = 0;
  const m = createRateMeter(100, 30, () => t);
  t = 10_000;
  m.tick(20);
  const s = m.snapshot();
  assert.equal(s.rate, 2);
  assert.equal(s.etaSec, 40);
});

test('batch run: kill -9 mid-run, --resume gives exactly one record per input', { timeout: 240_000 }, async () => {
  const { dir, inputs } = await imageDir(40);
  const out = join(dir, 'out');
  const child = spawn(process.execPath, [BIN, 'batch', 'run', join(dir, 'images'), '--out', out, '--workers', '2', '--threads', '1'], { env: CLI_ENV, detached: true, stdio: 'ignore' });
  const results = join(out, 'results.jsonl');
  const t0 = Date.now();
  let before = 0;
  while (before < 6) {
    assert.ok(Date.now() - t0 < 120_000, 'batch made no progress');
    assert.equal(child.exitCode, null, 'batch ended before it could be killed');
    await new Promise((r) => setTimeout(r, 100));
    before = await lines(results).then((l) => l.length, () => 0);
  }
  process.kill(-child.pid!, 'SIGKILL'); // the whole process group: parent and workers
  await new Promise((r) => child.once('exit', r));
  const killedAt = (await lines(results)).length;
  assert.ok(killedAt < inputs.length, `killed before the end (${killedAt} of ${inputs.length})`);
  // A crash can tear the line being written: simulate the worst case.
  await appendFile(results, '{"ok":true,"source":"' + inputs[inputs.length - 2]);

  const again = await cli(['batch', 'run', join(dir, 'images'), '--out', out]);
  assert.equal(again.code, 1, 'a second run without --resume refuses the directory');
  assert.match(again.stderr, /BATCH_STATE/);
  const resumed = await cli(['batch', 'run', '--out', out, '--resume', '--workers', '2', '--threads', '1']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, new RegExp(`${inputs.length} inputs have a record \\(${killedAt} from before, ${inputs.length - killedAt} now\\)`));
  const records = (await lines(results)).map((l) => JSON.parse(l) as { source: string; ok: boolean; faces?: unknown[]; error?: { code: string } });
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.source, (counts.get(r.source) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort(), [...inputs].sort(), 'no gap');
  assert.ok([...counts.values()].every((n) => n === 1), 'no duplicate');
  const bad = records.find((r) => r.source.endsWith('zz-not-an-image.jpg'));
  assert.equal(bad?.error?.code, 'UNSUPPORTED_FORMAT');
  assert.equal(records.filter((r) => r.ok).reduce((a, r) => a + (r.faces?.length ?? 0), 0), 20 * 1 + 20 * 5);
  const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as { inputs: number; failed: number; interrupted: boolean };
  assert.deepEqual([summary.inputs, summary.failed, summary.interrupted], [inputs.length, 1, false]);
  const csv = await lines(join(out, 'results.csv'));
  assert.equal(csv.length, 1 + 20 + 100 + 1, 'CSV: header, a row per face, a row for the bad input');
  const exported = await cli(['batch', 'export', out, '--format', 'jsonl']);
  assert.equal(exported.stdout.trim().split('\n').length, inputs.length);
});

test('batch, worker, serve: output location and every numeric flag checked before any work, naming the flag or the path', { timeout: 120_000 }, async () => {
  const dir = await tempDir('facesense-batch-opts-');
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const image = media('single_face.jpg');
  const redis = ['--redis', 'redis://127.0.0.1:1'];
  const cases: [string[], RegExp][] = [
    [['batch', 'run', image, '--out', join(file, 'out')], /--out .*a-file\/out: cannot create the directory/],
    [['batch', 'run', image, '--out', file], /--out .*a-file: exists and is not a directory/],
    [['batch', 'run', image, '--out', join(dir, 'o'), '--workers', '0'], /--workers must be an integer ≥ 1/],
    [['batch', 'run', image, '--out', join(dir, 'o'), '--workers', '2x'], /--workers must be an integer/],
    [['batch', 'submit', image, ...redis, '--out', join(dir, 'q'), '--chunk', '1.5'], /--chunk must be an integer/],
    [['batch', 'submit', image, ...redis, '--out', join(dir, 'q'), '--segment-sec', '0'], /--segment-sec must be a number > 0/],
    [['batch', 'submit', image, ...redis, '--out', join(dir, 'q'), '--overlap-sec', '5', '--segment-sec', '2'], /--overlap-sec must be shorter than --segment-sec/],
    [['batch', 'submit', image, ...redis, '--out', join(dir, 'q'), '--detect-every', '0'], /--detect-every must be an integer ≥ 1/],
    [['batch', 'submit', image, ...redis, '--out', join(file, 'q')], /--out .*a-file\/q: cannot create the directory/],
    [['worker', ...redis, '--concurrency', '0'], /--concurrency must be an integer ≥ 1/],
    [['worker', ...redis, '--lock-ms', '1e99'], /--lock-ms must be an integer/],
    [['serve', '--port', '70000'], /--port must be an integer ≥ 0 and ≤ 65535/],
    [['serve', '--timeout-ms=-1'], /--timeout-ms must be an integer ≥ 1/],
    [['serve', '--video-slots', '1000'], /--video-slots must be an integer ≥ 1 and ≤ 64/],
    [['serve', '--segment-sec', '10'], /--segment-sec, --overlap-sec and --queue-name need --redis/],
    [['serve', ...redis, '--overlap-sec', 'abc'], /--overlap-sec must be a number/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
});
