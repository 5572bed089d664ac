/**
 * `node dist/bench/memory.js [--count 2000] [--dir DIR] [--every 50]`: analyzeMany over real face
 * photos (UTKFace crops from $FACESENSE_DATA/utkface/crop_part1 by default) with the process's RSS
 * sampled every `every` results. Reports the RSS range, the least-squares slope after warm-up
 * (the first quarter) in MB per 1,000 images, and checks one result per input (exit 1 otherwise).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyzer } from '../src/node/analyzer.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '2000' }, dir: { type: 'string' }, every: { type: 'string', default: '50' }, detector: { type: 'string', default: 'yunet' } } });
const dir = values.dir ?? join(process.env.FACESENSE_DATA ?? '/work/data', 'utkface', 'crop_part1');
const count = Number(values.count);
const every = Number(values.every);
const names = (await readdir(dir)).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort().slice(0, count);
if (names.length < count) process.stderr.write(`only ${names.length} images in ${dir}\n`);
const inputs = names.map((n) => join(dir, n));

const analyzer = await createAnalyzer({ detector: values.detector as 'yunet' });
const samples: { n: number; rssMb: number }[] = [];
const seen = new Set<string>();
let ok = 0;
let failed = 0;
let faces = 0;
const t0 = performance.now();
for await (const item of analyzer.analyzeMany(inputs, { concurrency: 2 })) {
  seen.add(item.source);
  if (item.ok) {
    ok++;
    faces += item.result.faces.length;
  } else failed++;
  if (seen.size % every === 0) samples.push({ n: seen.size, rssMb: process.memoryUsage.rss() / 2 ** 20 });
}
const secs = (performance.now() - t0) / 1000;
await analyzer.dispose();

const after = samples.filter((s) => s.n > inputs.length / 4);
const mx = after.reduce((a, s) => a + s.n, 0) / after.length;
const my = after.reduce((a, s) => a + s.rssMb, 0) / after.length;
const slope = after.reduce((a, s) => a + (s.n - mx) * (s.rssMb - my), 0) / after.reduce((a, s) => a + (s.n - mx) ** 2, 0);
const rss = samples.map((s) => s.rssMb);
const warm = after.map((s) => s.rssMb);
process.stdout.write(
  `analyzeMany over ${inputs.length} images of ${dir}: ${seen.size} results (${ok} ok, ${failed} errors, ${faces} faces) in ${secs.toFixed(1)} s\n` +
    `RSS ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MB overall, ${Math.min(...warm).toFixed(0)}–${Math.max(...warm).toFixed(0)} MB after warm-up (${after.length} samples); ` +
    `slope after warm-up ${(slope * 1000).toFixed(2)} MB per 1,000 images\n`,
);
if (seen.size !== inputs.length) {
  process.stderr.write(`lost results: ${inputs.length - seen.size}\n`);
  process.exitCode = 1;
}
