/**
 * eval on UTKFace-style data: age as a value target, fairness breakdowns, and the detector path.
 * The models are the tiny random emotion network read through other manifests (its 7 outputs as
 * 7 age bins, or as gender plus 5 dropped labels), so no extra ONNX file or Python is needed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { OptionError } from '../src/core/errors.js';
import { asComparableReport } from '../src/eval/compare.js';
import type { AgeEvalReport, EvalReport } from '../src/eval/report.js';
import { UTK_EVAL_AGES, writeRgb, writeUtkfaceEval } from './fixtures/datasets.js';
import { hasShared, media, SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);
const TINY = resolve('test/fixtures/tiny-emotion.onnx');
const AGE_BINS = [5, 15, 25, 35, 45, 55, 65];

/** Writes `<id>.json` beside a copy of the tiny network, with the given outputs. */
async function tinyModel(dir: string, id: string, outputs: readonly object[]): Promise<string> {
  const manifest = JSON.parse(await readFile(TINY.replace(/\.onnx$/, '.json'), 'utf8')) as Record<string, unknown>;
  await copyFile(TINY, join(dir, 'tiny-emotion.onnx'));
  const path = join(dir, `${id}.json`);
  await writeFile(path, JSON.stringify({ ...manifest, id, outputs }));
  return path;
}

const ageModel = (dir: string) => tinyModel(dir, 'tiny-age', [{ task: 'age', name: 'emotion', decode: 'expectation', labels: AGE_BINS.map(String), binValues: AGE_BINS }]);
const genderModel = (dir: string) => tinyModel(dir, 'tiny-gender', [{ task: 'gender', name: 'emotion', decode: 'softmax', labels: ['male', 'female', 'u1', 'u2', 'u3', 'u4', 'u5'] }]);

async function evalCli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [resolve('bin/facesense.js'), 'eval', '--dataset', 'utkface', '--split', 'test', ...args], {
    env: { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' },
  });
  return stdout;
}

async function evalFails(args: string[]): Promise<string> {
  const failed = await evalCli(args).then(() => undefined, (e: unknown) => e as { code: number; stderr: string });
  assert.equal(failed?.code, 2);
  return failed.stderr;
}

const lines = async (path: string) => (await readFile(path, 'utf8')).trim().split('\n');

test('eval --target age measures a value output: MAE, CS, band accuracies, fairness by ethnicity and gender, CSVs and report.html', async () => {
  const root = await tempDir();
  const { splitFile, broken } = await writeUtkfaceEval(root);
  const model = await ageModel(await tempDir());
  const out = await tempDir();
  const stdout = await evalCli(['--model', model, '--root', root, '--split-file', splitFile, '--target', 'age', '--min-group-size', '2', '--out', out]);
  assert.match(stdout, /MAE \d+\.\d\d years \[95% CI/);
  assert.match(stdout, /by ethnicity, MAE \(years\): White/);

  const r = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as AgeEvalReport;
  assert.equal(r.kind, 'value');
  assert.equal(r.task, 'age');
  assert.equal(r.samples, 13);
  assert.equal(r.evaluated, 12);
  assert.equal(r.skipped.count, 1);
  assert.ok(r.skipped.items[0]!.file.endsWith(broken));
  assert.deepEqual([...r.predictions.truthYears].sort((a, b) => a - b), [...UTK_EVAL_AGES]);
  // An expectation over bins 5..65 stays inside them.
  assert.ok(r.predictions.predictedYears.length > 0, 'every() over an empty list would pass vacuously');
  assert.ok(r.predictions.predictedYears.every((p) => p >= 5 && p <= 65));
  const mae = r.predictions.predictedYears.reduce((a, p, i) => a + Math.abs(p - r.predictions.truthYears[i]!), 0) / 12;
  assert.ok(Math.abs(r.maeYears - mae) < 1e-3);
  assert.ok(r.rmseYears >= r.maeYears);
  const cs = r.cumulativeScore.map((c) => c.share);
  assert.equal(cs.length, 10);
  cs.forEach((v, i) => assert.ok(i === 0 || v >= cs[i - 1]!));
  assert.equal(r.paper000.within2_5Years, r.bands['paper000']!.exact);
  assert.equal(r.bands['fairface']!.confusion.flat().reduce((a, b) => a + b, 0), 12);
  assert.equal(r.largestErrors.length, 12);

  // The target's own attributes (age, child) are left out by default.
  const f = r.fairness!;
  assert.deepEqual(f.metrics, ['maeYears', 'cs5', 'meanSignedErrorYears']);
  assert.deepEqual(f.attributes.map((a) => a.attribute), ['ethnicity', 'gender']);
  assert.deepEqual(f.attributes[0]!.groups.map((g) => g.group), ['White', 'Black', 'Asian', 'Indian', 'Others']);
  for (const a of f.attributes) assert.equal(a.groups.reduce((n, g) => n + g.count, 0), 12);
  const gap = f.attributes[1]!.gaps.find((g) => g.metric === 'maeYears')!;
  assert.ok(Math.abs(gap.gap - (gap.highest.value - gap.lowest.value)) < 1e-12 && gap.gap >= 0);

  assert.equal((await lines(join(out, 'predictions.csv'))).length, 13);
  assert.equal((await lines(join(out, 'fairness.csv')))[0], 'attribute,group,count,mae_years,cs5,mean_signed_error_years');
  assert.equal((await lines(join(out, 'fairness.csv'))).length, 1 + 5 + 2);
  assert.equal((await lines(join(out, 'fairness_gaps.csv'))).length, 1 + 3 + 3);
  assert.equal((await lines(join(out, 'cumulative_score.csv'))).length, 11);
  assert.equal((await lines(join(out, 'confusion_paper000.csv'))).length, 18);
  assert.match((await lines(join(out, 'summary.csv'))).join('\n'), /paper000_within_5_years,/);
  assert.match((await lines(join(out, 'skipped.csv')))[1]!, new RegExp(broken.replace(/\./g, '\\.')));
  const html = await readFile(join(out, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /https?:/i, 'the page names no URL');
  assert.doesNotMatch(html, /<script|<link/i);
  assert.ok((html.match(/<svg/g) ?? []).length >= 7, 'scatter, histogram, CS curve, 2 band confusions, 2 group bars');
  assert.match(html, /<h2>Fairness<\/h2>/);
  assert.match(html, /Largest errors/);
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, 12);

  assert.throws(() => asComparableReport(r, 'age.json'), (e: unknown) => e instanceof OptionError && /age\.json is a value \(age\) report/.test(e.message));
});

test('eval of a class target on UTKFace reports accuracy per age band and for children (0-12 / 13+) and per ethnicity', async () => {
  const root = await tempDir();
  const { splitFile } = await writeUtkfaceEval(root);
  const model = await genderModel(await tempDir());
  const out = await tempDir();
  const stdout = await evalCli(['--model', model, '--root', root, '--split-file', splitFile, '--target', 'gender', '--groups', 'age,child,ethnicity', '--min-group-size', '1', '--out', out]);
  assert.match(stdout, /by child, accuracy: 0-12 \d+\.\d\d% \(3\), 13\+ \d+\.\d\d% \(9\)/);
  const r = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvalReport;
  assert.equal(r.kind, 'class');
  assert.deepEqual(r.classes, ['male', 'female']);
  assert.deepEqual(r.labelMap.droppedLabels, ['u1', 'u2', 'u3', 'u4', 'u5']);
  const f = r.fairness!;
  assert.deepEqual(f.metrics, ['accuracy', 'balancedAccuracy', 'macroF1']);
  assert.deepEqual(f.attributes.map((a) => a.attribute), ['ethnicity', 'age', 'child']);
  const age = f.attributes[1]!;
  assert.deepEqual(age.groups.map((g) => [g.group, g.count]), [['0-12', 3], ['13-19', 1], ['20-39', 3], ['40-59', 2], ['60+', 3]]);
  // Children's accuracy recomputed from the per-sample results.
  const child = f.attributes[2]!.groups.find((g) => g.group === '0-12')!;
  const ageOf = (id: string) => Number.parseInt(id, 10);
  const kids = r.predictions.id.map((id, i) => ({ id, ok: r.predictions.predicted[i] === r.predictions.truth[i] })).filter((x) => ageOf(x.id) <= 12);
  assert.equal(kids.length, 3);
  assert.equal(child.metrics['accuracy'], kids.filter((k) => k.ok).length / 3);
  assert.ok(f.attributes.every((a) => a.gaps.length === 3));
  assert.equal((await lines(join(out, 'fairness.csv')))[0], 'attribute,group,count,accuracy,balanced_accuracy,macro_f1');
  assert.match(await readFile(join(out, 'report.html'), 'utf8'), /By child/);
});

test('eval names what is wrong: unknown group, appearance target without labels, a model without the task', async () => {
  const root = await tempDir();
  const { splitFile } = await writeUtkfaceEval(root);
  const dir = await tempDir();
  const gender = await genderModel(dir);
  const base = ['--root', root, '--split-file', splitFile];
  assert.match(await evalFails(['--model', gender, ...base, '--target', 'gender', '--groups', 'race']), /--groups: unknown attribute race; use ethnicity, gender, age, child, children, unsure or none/);
  assert.match(await evalFails(['--model', gender, ...base, '--target', 'glasses']), /no class or age target named "glasses" \(pass --appearance FILE/);
  assert.match(await evalFails(['--model', gender, ...base, '--target', 'age']), /has no value task "age".*gender \(class\)/);
  assert.match(await evalFails(['--model', gender, ...base, '--target', 'gender', '--groups', 'unsure']), /no evaluated sample of utkface has a label for unsure/);
});

test('eval --detector yunet measures the biggest face of each chip and lists chips without one', { skip: !hasShared && 'needs ../shared (YuNet and media)' }, async () => {
  const root = await tempDir();
  const dir = join(root, 'crop_part1');
  // A UTKFace-like 200×200 chip cut around the face of single_face.jpg, twice, and a flat chip.
  const chip = await sharp(media('single_face.jpg')).extract({ left: 150, top: 110, width: 290, height: 290 }).resize(200, 200).jpeg().toBuffer();
  const faces = ['30_1_0_20170101000000001.jpg.chip.jpg', '31_1_0_20170101000000002.jpg.chip.jpg'];
  await mkdir(dir, { recursive: true });
  for (const name of faces) await writeFile(join(dir, name), chip);
  const flat = '40_0_1_20170101000000003.jpg.chip.jpg';
  await writeRgb(join(dir, flat), 200, 200, [128, 128, 128], [128, 128, 128]);
  const splitFile = join(root, 'split.json');
  await writeFile(splitFile, JSON.stringify({ format: 'facesense-split', version: 1, splits: { test: [...faces, flat] } }));
  const out = await tempDir();
  await evalCli(['--model', await ageModel(await tempDir()), '--root', root, '--split-file', splitFile, '--target', 'age', '--detector', 'yunet', '--threads', '1', '--out', out]);
  const r = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as AgeEvalReport;
  assert.equal(r.detector, 'yunet');
  assert.equal(r.evaluated, 2);
  assert.deepEqual(r.skipped.items.map((s) => [s.file.endsWith(flat), s.reason]), [[true, 'no face detected']]);
  // The same chip twice gives the same age.
  assert.equal(r.predictions.predictedYears[0], r.predictions.predictedYears[1]);
});
