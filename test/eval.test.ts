import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DatasetError } from '../src/core/errors.js';
import type { EvalReport } from '../src/eval/report.js';
import { parseTrainingLog } from '../src/eval/training-log.js';
import { writeClassFolders, writeFerplusFolders } from './fixtures/datasets.js';
import { SHARED_MODELS, tempDir } from './helpers/media.js';

const run = promisify(execFile);
const MODEL = resolve('test/fixtures/tiny-emotion.onnx');
const FER2013 = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

async function evalCli(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [resolve('bin/facesense.js'), 'eval', '--model', MODEL, '--dataset', 'folders', '--split', 'test', ...args], {
    env: { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' },
  });
  return stdout;
}

const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);

test('eval measures a model on a folders dataset and writes report.json, CSV tables and an offline report.html', async () => {
  const root = await tempDir();
  await writeClassFolders(root, 'test', FER2013, 3);
  await writeFile(join(root, 'test', 'happy', 'broken.png'), 'not a png');
  const log = join(root, 'log.csv');
  await writeFile(log, 'epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,images_per_s\n1,1.9,0.3,1.8,0.35,0.001,10,100\n2,1.5,0.45,1.6,0.42,0.0005,10,100\n');
  const out = await tempDir();
  const stdout = await evalCli(['--root', root, '--out', out, '--training-log', log]);
  assert.match(stdout, /accuracy .*95% CI/);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvalReport;
  assert.equal(report.format, 2);
  assert.equal(report.samples, 22);
  assert.equal(report.evaluated, 21);
  assert.equal(report.skipped.count, 1);
  assert.ok(report.skipped.items[0]!.file.endsWith('broken.png'));
  assert.equal(report.labelMap.identity, true);
  assert.equal(report.classes.length, 7);
  assert.equal(sum(report.confusion.flat()), 21);
  const diag = report.confusion.reduce((a, row, i) => a + row[i]!, 0);
  assert.equal(report.accuracy, diag / 21);
  assert.ok(report.accuracyCI.lower <= report.accuracy && report.accuracy <= report.accuracyCI.upper);
  assert.ok(Math.abs(report.weighted.recall - report.accuracy) < 1e-12);
  assert.deepEqual(report.topK.map((t) => t.k), [1, 2, 3]);
  assert.ok(report.topK[0]!.accuracy <= report.topK[1]!.accuracy && report.topK[1]!.accuracy <= report.topK[2]!.accuracy);
  assert.equal(report.calibration.bins.length, 15);
  assert.equal(sum(report.calibration.bins.map((b) => b.count)), 21);
  for (const c of report.classes) {
    assert.equal(report.perClass[c]!.support, 3);
    assert.equal(report.perClass[c]!.auc, report.roc.perClass[c]!.auc);
  }
  assert.ok(report.macroAuc !== null && report.macroAuc >= 0 && report.macroAuc <= 1);
  assert.equal(report.roc.macro.fpr.length, report.roc.macro.tpr.length);
  assert.equal(report.predictions.id.length, 21);
  assert.equal(report.predictions.scores[0]!.length, 7);
  report.predictions.scores.forEach((s) => assert.ok(Math.abs(sum(s) - 1) < 1e-5));
  const mistakes = report.predictions.predicted.filter((p, i) => p !== report.predictions.truth[i]).length;
  assert.equal(report.mistakes.length, Math.min(24, mistakes));
  assert.equal(report.trainingLog?.rows.length, 2);

  const perClass = (await readFile(join(out, 'per_class.csv'), 'utf8')).trim().split('\n');
  assert.equal(perClass[0], 'class,precision,recall,f1,support,auc,average_precision');
  assert.equal(perClass.length, 8);
  const confusion = (await readFile(join(out, 'confusion.csv'), 'utf8')).trim().split('\n').slice(1);
  assert.equal(sum(confusion.flatMap((l) => l.split(',').slice(1).map(Number))), 21);
  for (const f of ['summary.csv', 'confusion_normalised.csv', 'roc.csv', 'pr.csv', 'reliability.csv', 'predictions.csv', 'skipped.csv']) {
    assert.ok((await readFile(join(out, f), 'utf8')).length > 0, f);
  }
  assert.equal((await readFile(join(out, 'predictions.csv'), 'utf8')).trim().split('\n').length, 22);

  const html = await readFile(join(out, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /https?:/i, 'the page names no URL');
  assert.doesNotMatch(html, /<script|<link/i);
  assert.ok((html.match(/<svg/g) ?? []).length >= 8, 'confusion, per class, ROC, PR, reliability and 3 training figures');
  assert.equal((html.match(/<img src="data:image\/png;base64,/g) ?? []).length, report.mistakes.length);
  assert.match(html, /Training loss/);
  assert.match(html, /broken\.png/);
});

test('eval maps a model\'s labels onto other class names and skips classes with no counterpart', async () => {
  const root = await tempDir();
  // FER+ names; the fixture model speaks FER2013 (angry, disgust, fear, happy, neutral, sad, surprise).
  await writeClassFolders(root, 'test', ['anger', 'contempt', 'happiness', 'neutral', 'sadness'], 2);
  const out = await tempDir();
  const stdout = await evalCli(['--root', root, '--out', out]);
  assert.match(stdout, /no counterpart \(skipped 2 samples\): contempt/);
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvalReport;
  assert.deepEqual(report.dataset.classes, ['anger', 'contempt', 'happiness', 'neutral', 'sadness']);
  assert.deepEqual(report.classes, ['anger', 'happiness', 'neutral', 'sadness']);
  assert.equal(report.labelMap.identity, false);
  assert.deepEqual(report.labelMap.mapped.map((m) => `${m.modelLabels.join('+')}>${m.class}`), ['angry>anger', 'happy>happiness', 'neutral>neutral', 'sad>sadness']);
  assert.deepEqual(report.labelMap.unmatchedClasses, ['contempt']);
  assert.deepEqual(report.labelMap.droppedLabels, ['disgust', 'fear', 'surprise']);
  assert.equal(report.labelMap.unmatchedSamples, 2);
  assert.equal(report.samples, 10);
  assert.equal(report.evaluated, 8);
  assert.equal(report.skipped.count, 2);
  assert.ok(report.skipped.items.length > 0, 'every() over an empty list would pass vacuously');
  assert.ok(report.skipped.items.every((s) => s.file.includes('contempt') && /no counterpart/.test(s.reason)));
  assert.equal(sum(report.confusion.flat()), 8);
  report.predictions.scores.forEach((s) => assert.ok(s.length === 4 && Math.abs(sum(s) - 1) < 1e-5));
  assert.match(await readFile(join(out, 'report.html'), 'utf8'), /Label mapping/);
});

test('training logs are read by column name; a wrong header or a bad number names the file and line', () => {
  const rows = parseTrainingLog('lr,epoch,train_loss,train_acc,val_loss,val_acc,seconds,images_per_s\n0.001,1,1.5,0.4,1.6,0.38,12.5,180\n', 'log.csv');
  assert.deepEqual(rows, [{ epoch: 1, train_loss: 1.5, train_acc: 0.4, val_loss: 1.6, val_acc: 0.38, lr: 0.001, seconds: 12.5, images_per_s: 180 }]);
  assert.throws(() => parseTrainingLog('epoch,loss\n1,2\n', 'a.csv'), (e: unknown) => e instanceof DatasetError && /a\.csv: not a training log: header lacks train_loss/.test(e.message));
  assert.throws(() => parseTrainingLog('epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,images_per_s\n1,x,0,0,0,0,0,0\n', 'b.csv'), /b\.csv: line 2: train_loss is not a number/);
});

test('eval --split all measures every sample of every split (cross-dataset)', async () => {
  const root = await tempDir();
  await writeClassFolders(root, 'train', ['happy', 'sad'], 2);
  await writeClassFolders(root, 'test', ['happy', 'sad'], 1);
  const out = await tempDir();
  await run(process.execPath, [resolve('bin/facesense.js'), 'eval', '--model', MODEL, '--dataset', 'folders', '--split', 'all', '--root', root, '--out', out], {
    env: { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' },
  });
  const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvalReport;
  assert.equal(report.samples, 6);
  assert.equal(report.dataset.split, 'all');
});

test('eval --protocol picks how FER+ votes become labels: majority (the reference) keeps fewer faces than plurality', async () => {
  const root = await tempDir();
  await writeFerplusFolders(root);
  const measure = async (protocol: string[]) => {
    const out = await tempDir();
    await evalCli(['--dataset', 'ferplus-folders', '--root', root, '--split', 'all', '--out', out, ...protocol]);
    return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvalReport;
  };
  const plurality = await measure([]);
  const majority = await measure(['--protocol', 'majority']);
  // 4 labelled faces under plurality; the surprise/unknown 4-4 tie has no majority and drops out.
  assert.equal(plurality.samples, 4);
  assert.equal(majority.samples, 3);
  assert.equal(plurality.dataset.protocol, undefined);
  assert.equal(majority.dataset.protocol, 'majority');
  await assert.rejects(evalCli(['--dataset', 'ferplus-folders', '--root', root, '--split', 'all', '--protocol', 'vote']), /--protocol must be plurality or majority/);
});

test('eval --perturb degrades every image before the model and names the degradation in the report', async () => {
  const root = await tempDir();
  await writeClassFolders(root, 'test', FER2013, 2);
  const measure = async (extra: string[]) => {
    const out = await tempDir();
    await evalCli(['--root', root, '--out', out, ...extra]);
    return JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as EvalReport;
  };
  const clean = await measure([]);
  const dark = await measure(['--perturb', 'brightness:-120']);
  assert.equal(dark.dataset.perturbation, 'brightness-120');
  assert.equal(clean.dataset.perturbation, undefined);
  assert.equal(dark.evaluated, clean.evaluated);
  // The same faces, darker: the model's scores move.
  const moved = dark.predictions.scores.some((s, i) => s.some((v, k) => Math.abs(v - clean.predictions.scores[i]![k]!) > 1e-4));
  assert.ok(moved);
  await assert.rejects(evalCli(['--root', root, '--perturb', 'sepia']), /unknown degradation "sepia"/);
});
