import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DatasetError } from '../src/core/errors.js';
import { axisOrder, buildGrid, displayValue, gridKeys, parseSweepCsv, parseSweepJson } from '../src/interpret/sweep-grid.js';
import { tempDir } from './helpers/media.js';

const run = promisify(execFile);

/** training/sweep.py's results.csv for a depth × width grid: one failed cell, one never run (depth 3, width 2.0). */
const RESULTS = `cell,model.kwargs.depth,model.kwargs.width,val_acc,val_acc_tta_flip,test_acc,test_acc_tta_flip,best_epoch,epochs_run,train_seconds,params,gmac,images_per_s,error
depth=1_width=0.5,1,0.5,0.41,0.42,0.40,0.41,14,15,100.0,1000,0.01,500.0,
depth=1_width=1.0,1,1.0,0.45,0.46,0.44,0.45,15,15,120.0,2000,0.02,400.0,
depth=1_width=2.0,1,2.0,0.47,0.47,0.46,0.46,13,15,150.0,4000,0.04,300.0,
depth=2_width=0.5,2,0.5,0.52,0.53,0.51,0.52,15,15,130.0,1500,0.02,450.0,
depth=2_width=1.0,2,1.0,0.58,0.59,0.57,0.58,15,15,160.0,3000,0.03,350.0,
depth=2_width=2.0,2,2.0,,,,,,,,,,,"RuntimeError: out of memory, at cell 6"
depth=3_width=0.5,3,0.5,0.55,0.55,0.54,0.55,12,15,170.0,2000,0.03,380.0,
depth=3_width=1.0,3,1.0,0.61,0.62,0.60,0.61,15,15,200.0,4000,0.05,280.0,
`;

test('a sweep.py results table pivots into a depth × width grid; failed and missing cells are marked', () => {
  const t = parseSweepCsv(RESULTS, 'results.csv');
  assert.deepEqual(gridKeys(t), ['model.kwargs.depth', 'model.kwargs.width']);
  const g = buildGrid(t, { x: 'width', y: 'depth', metric: 'val_acc' });
  assert.equal(g.x, 'model.kwargs.width');
  assert.deepEqual(g.xOrder, ['0.5', '1.0', '2.0']);
  assert.deepEqual(g.yOrder, ['1', '2', '3']);
  assert.equal(g.cells.length, 9);
  const at = (y: string, x: string) => g.cells.find((c) => c.x === x && c.y === y)!;
  assert.equal(at('2', '1.0').value, 0.58);
  assert.deepEqual(at('2', '2.0'), { x: '2.0', y: '2', value: null, note: 'failed', error: 'RuntimeError: out of memory, at cell 6' });
  assert.deepEqual(at('3', '2.0'), { x: '2.0', y: '3', value: null, note: 'not run' });
  assert.deepEqual([g.best?.y, g.best?.x, g.best?.value], ['3', '1.0', 0.61]);
  const fastest = buildGrid(t, { x: 'width', y: 'depth', metric: 'train_seconds', lowerIsBetter: true });
  assert.deepEqual([fastest.best?.y, fastest.best?.x], ['1', '0.5']);
});

test('sweep tables: JSON rows, JSON-encoded string keys, axis order, and errors that name the file and the fix', () => {
  const t = parseSweepJson(JSON.stringify([{ optimizer: '"adam"', lr: 0.01, val_acc: 0.5 }, { optimizer: '"sgd"', lr: 0.01, val_acc: 0.4 }, { optimizer: '"adam"', lr: 0.1, val_acc: null }]), 'r.json');
  const g = buildGrid(t, { x: 'optimizer', y: 'lr', metric: 'val_acc' });
  assert.deepEqual(g.xOrder, ['adam', 'sgd']);
  assert.equal(g.cells.find((c) => c.x === 'adam' && c.y === '0.1')!.note, 'no value');
  assert.equal(displayValue('"adam"'), 'adam');
  assert.deepEqual(axisOrder(['10', '2', '2', '1.5']), ['1.5', '2', '10']);
  assert.deepEqual(axisOrder(['b', 'a', 'b']), ['b', 'a']);
  const csv = parseSweepCsv(RESULTS, 'results.csv');
  const rejects = (f: () => unknown, pattern: RegExp) => assert.throws(f, (e: unknown) => e instanceof DatasetError && e.code === 'DATASET_INVALID' && pattern.test(e.message));
  rejects(() => buildGrid(csv, { x: 'height', y: 'depth', metric: 'val_acc' }), /^results\.csv: --x: no column "height"; columns: cell, model\.kwargs\.depth/);
  rejects(() => buildGrid(csv, { x: 'width', y: 'depth', metric: 'acc' }), /--metric: no column "acc"/);
  const three = parseSweepCsv('cell,a.depth,b.depth,width,val_acc\nc1,1,1,1,0.5\nc2,1,2,1,0.6\n', 'three.csv');
  rejects(() => buildGrid(three, { x: 'width', y: 'depth', metric: 'val_acc' }), /"depth" matches a\.depth, b\.depth; give the full name/);
  rejects(() => buildGrid(three, { x: 'width', y: 'a.depth', metric: 'val_acc' }), /rows 2 and 3 are both a\.depth=1, width=1: .*--where KEY=VALUE \(b\.depth\)/);
  assert.equal(buildGrid(three, { x: 'width', y: 'a.depth', metric: 'val_acc', where: [{ column: 'b.depth', value: '2' }] }).cells[0]!.value, 0.6);
  rejects(() => parseSweepCsv('cell,depth,val_acc\nc1,1\n', 'short.csv'), /^short\.csv: line 2: 2 cells, the header has 3/);
  rejects(() => buildGrid(parseSweepCsv('cell,depth,w,val_acc\nc1,1,1,high\n', 'text.csv'), { x: 'w', y: 'depth', metric: 'val_acc' }), /^text\.csv: line 2: val_acc is "high", not a number/);
  rejects(() => parseSweepJson('{"cells": 3}', 'odd.json'), /^odd\.json: expected an array of row objects/);
});

test('facesense sweep-report writes the heat map, the pivot table and an offline page', async () => {
  const dir = await tempDir();
  const file = join(dir, 'results.csv');
  await writeFile(file, RESULTS);
  const out = join(dir, 'out');
  const { stdout } = await run(process.execPath, [resolve('bin/facesense.js'), 'sweep-report', file, '--out', out]);
  assert.match(stdout, /^model\.kwargs\.depth \\ model\.kwargs\.width +0\.5 +1\.0 +2\.0$/m);
  assert.match(stdout, /^2 +0\.5200 +0\.5800 +failed$/m);
  assert.match(stdout, /best depth=3, width=1\.0: 0\.6100/);
  const svg = await readFile(join(out, 'sweep-val_acc.svg'), 'utf8');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  for (const text of ['0.610', '0.410', 'failed', 'not run']) assert.ok(svg.includes(`>${text}<`), `the heat map shows ${text}`);
  assert.equal(await readFile(join(out, 'grid.csv'), 'utf8'), 'model.kwargs.depth\\model.kwargs.width,0.5,1.0,2.0\n1,0.41,0.45,0.47\n2,0.52,0.58,\n3,0.55,0.61,\n');
  const html = await readFile(join(out, 'sweep.html'), 'utf8');
  assert.match(html, /RuntimeError: out of memory/);
  assert.doesNotMatch(html, /<script/);
  await assert.rejects(run(process.execPath, [resolve('bin/facesense.js'), 'sweep-report', join(dir, 'none.csv'), '--out', out]), (e: { code?: number; stderr?: string }) => e.code === 1 && /none\.csv: cannot read the results table \(ENOENT\) \[INPUT_NOT_FOUND\]/.test(e.stderr ?? ''));
  await assert.rejects(run(process.execPath, [resolve('bin/facesense.js'), 'sweep-report', file, '--out', out, '--where', 'depth']), (e: { code?: number; stderr?: string }) => e.code === 2 && /--where must be KEY=VALUE/.test(e.stderr ?? ''));
});
