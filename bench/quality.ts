/**
 * Measures where the default attribute model stops being trustworthy, to choose the thresholds of
 * the quality flags (src/core/quality.ts). On the UTKFace test split (FACESENSE_DATA/utkface) each face
 * is analysed as is, shrunk (eye distance down to a few pixels) and blurred (Gaussian σ 1–4), and
 * gender accuracy and age MAE are reported by bin of eye distance, sharpness, |yaw| and detector
 * score; on the FER+ test split (FACESENSE_DATA/ferplus, upscaled 4×) emotion accuracy by |yaw|, the
 * range UTKFace's frontal crops lack.
 * Run: npm run build && FACESENSE_DATA=... node dist/bench/quality.js [utk faces] [fer+ faces]   (default 300, 1000)
 *
 * `node dist/bench/quality.js occlusion [faces per group]` measures the occlusion flag alone on real
 * faces: multi_face.jpg (the man in sunglasses must be flagged, the four others not) and the UTKFace
 * appearance hand labels (../shared/datasets/utkface-appearance.tsv): the share of faces in ordinary
 * spectacles and of faces without glasses flagged, and the occlusion score's quantiles, per threshold.
 * (The synthetic held-out measure — AUC, precision/recall — is training/occlusion.py's report.)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { FaceResult } from '../src/core/analyzer.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { createLoader } from '../src/data/loaders/index.js';
import { FERPLUS_CLASSES } from '../src/data/loaders/ferplus-folders.js';
import { UTK_GENDERS } from '../src/data/loaders/utkface.js';
import type { RgbImage } from '../src/core/types.js';

const data = process.env.FACESENSE_DATA;
if (data === undefined) throw new Error('set FACESENSE_DATA to the folder holding utkface/');

if (process.argv[2] === 'occlusion') {
  await occlusionBench(Number(process.argv[3] ?? 600));
  process.exit(0);
}

/** Occlusion scores (max over eyes/nose/mouth) of real faces, and the flagged share per threshold. */
async function occlusionBench(perGroup: number): Promise<void> {
  const a = await createAnalyzer({ tasks: ['glasses'], threads: 1, occlusion: true });
  const worst = (f: FaceResult) => (f.quality?.occlusion === undefined ? Number.NaN : Math.max(f.quality.occlusion.eyes, f.quality.occlusion.nose, f.quality.occlusion.mouth));
  const multi = await a.analyze(join(process.cwd(), '..', 'shared', 'media', 'multi_face.jpg'));
  console.log('multi_face.jpg (box x,y; glasses label; occlusion eyes/nose/mouth; reasons)');
  for (const f of [...multi.faces].sort((x, y) => x.boxPx.x - y.boxPx.x)) {
    const o = f.quality?.occlusion;
    console.log(`  (${f.boxPx.x.toFixed(0)}, ${f.boxPx.y.toFixed(0)}) ${f.attributes.glasses?.label ?? '?'}  ${o === undefined ? '-' : `${o.eyes.toFixed(3)} / ${o.nose.toFixed(3)} / ${o.mouth.toFixed(3)}`}  [${f.quality?.reasons.join(', ') ?? ''}]`);
  }
  const tsv = (await readFile(join(process.cwd(), '..', 'shared', 'datasets', 'utkface-appearance.tsv'), 'utf8')).trim().split('\n');
  const cols = tsv[0]!.split('\t');
  const [fi, gi] = [cols.indexOf('file'), cols.indexOf('glasses')];
  const groups = new Map<string, number[]>([['eyeglasses (glasses=1)', []], ['no glasses (glasses=0)', []], ['sunglasses (glasses=2)', []]]);
  const name = ['no glasses (glasses=0)', 'eyeglasses (glasses=1)', 'sunglasses (glasses=2)'];
  for (const line of tsv.slice(1)) {
    const c = line.split('\t');
    const g = groups.get(name[Number(c[gi])] ?? '');
    if (g === undefined || g.length >= perGroup) continue;
    const r = await a.analyze(join(data!, 'utkface', 'crop_part1', c[fi]!)).catch(() => undefined);
    const f = r === undefined ? undefined : [...r.faces].sort((x, y) => y.boxPx.width - x.boxPx.width)[0];
    if (f !== undefined && !Number.isNaN(worst(f))) g.push(worst(f));
  }
  await a.dispose();
  // Its cost per face: the network alone on 48×48 crops (classifyCrops' infer stage), batches of 1 and 64.
  const net = await createAnalyzer({ models: ['occlusion-synth'], tasks: ['occlusion'], detector: 'none', threads: 1, occlusion: false });
  const crop = { data: new Uint8Array(48 * 48 * 3).map((_, i) => (i * 37) % 251), width: 48, height: 48, channels: 3 as const };
  for (const batch of [1, 64]) {
    const ms: number[] = [];
    for (let rep = 0; rep < (batch === 1 ? 400 : 20); rep++) await net.classifyCrops(Array(batch).fill(crop), { onTimings: (t) => ms.push(t.inferMs / batch) });
    const tail = ms.slice(Math.floor(ms.length / 4)).sort((p, q) => p - q);
    console.log(`occlusion-synth infer, batch ${batch}: median ${tail[Math.floor(tail.length / 2)]!.toFixed(3)} ms per face (one thread, ${tail.length} timed batches after warm-up)`);
  }
  await net.dispose();
  const thresholds = [0.3, 0.4, 0.5, 0.6, 0.7];
  console.log(`\nUTKFace appearance labels: flagged share at occlusion threshold ${thresholds.join(' / ')}; score quantiles 50/90/99%`);
  for (const [label, xs] of groups) {
    if (xs.length === 0) continue;
    const sorted = [...xs].sort((p, q) => p - q);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(3);
    console.log(`  ${label.padEnd(24)} n ${String(xs.length).padStart(4)}  flagged ${thresholds.map((t) => `${((xs.filter((x) => x > t).length / xs.length) * 100).toFixed(1)}%`).join(' / ')}  quantiles ${q(0.5)} / ${q(0.9)} / ${q(0.99)}`);
  }
}
const limit = Number(process.argv[2] ?? 300);
const ferLimit = Number(process.argv[3] ?? 1000);

interface Obs { variant: string; eyePx: number; sharp: number; yaw: number; score: number; genderOk: number; ageErr: number }
const obs: Obs[] = [];

async function rgb(s: Sharp): Promise<RgbImage> {
  const { data: d, info } = await s.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(d), width: info.width, height: info.height, channels: 3 };
}

const analyzer = await createAnalyzer({ tasks: ['age', 'gender'], threads: 1, detect: { scoreThreshold: 0.3, minFacePx: 4 } });
const loader = await createLoader('utkface', { root: join(data, 'utkface') });
let n = 0;
for await (const s of loader.samples()) {
  if (s.split !== 'test' || s.image.kind !== 'file') continue;
  if (n++ >= limit) break;
  const gender = UTK_GENDERS[s.labels['gender'] as number];
  const age = s.labels['age'] as number;
  const meta = await sharp(s.image.path).metadata();
  const w = meta.width ?? 200;
  const variants: [string, Sharp][] = [['original', sharp(s.image.path)]];
  for (const k of [2, 3, 4, 6, 8]) variants.push([`shrink/${k}`, sharp(s.image.path).resize(Math.round(w / k))]);
  for (const sigma of [1, 2, 3, 4]) variants.push([`blur σ${sigma}`, sharp(s.image.path).blur(sigma)]);
  for (const [variant, img] of variants) {
    const r = await analyzer.analyze(await rgb(img));
    const f: FaceResult | undefined = [...r.faces].sort((a, b) => b.boxPx.width - a.boxPx.width)[0];
    if (f === undefined || f.quality === undefined || f.attributes.gender === undefined || f.attributes.age === undefined) continue;
    obs.push({ variant, eyePx: f.alignment.eyeDistancePx, sharp: f.quality.sharpness, yaw: Math.abs(f.pose?.yawDeg ?? 0), score: f.score, genderOk: f.attributes.gender.label === gender ? 1 : 0, ageErr: Math.abs(f.attributes.age.value - age) });
  }
}
await analyzer.dispose();

// Yaw: FER+ faces (web photos, many turned) with the emotion model; 48×48 upscaled so YuNet finds them.
const emo = await createAnalyzer({ tasks: ['emotion'], threads: 1, detect: { scoreThreshold: 0.3, minFacePx: 4 } });
const fer = await createLoader('ferplus-folders', { root: join(data, 'ferplus') });
const ferObs: { yaw: number; score: number; sharp: number; ok: number }[] = [];
let m = 0;
for await (const s of fer.samples()) {
  if (s.split !== 'test' || s.image.kind !== 'file' || s.labels['emotion_majority'] === undefined) continue;
  if (m++ >= ferLimit) break;
  const r = await emo.analyze(await rgb(sharp(s.image.path).resize(192, 192, { kernel: 'cubic' }).toColourspace('srgb')));
  const f = r.faces[0];
  if (f === undefined || f.quality === undefined || f.attributes.emotion === undefined) continue;
  ferObs.push({ yaw: Math.abs(f.pose?.yawDeg ?? 0), score: f.score, sharp: f.quality.sharpness, ok: f.attributes.emotion.label === FERPLUS_CLASSES[s.labels['emotion_majority'] as number] ? 1 : 0 });
}
await emo.dispose();
console.log(`FER+ test split, ${m} images, ${ferObs.length} with a face found (upscaled 4×)`);
for (const [title, key, edges] of [
  ['by |yaw| (degrees)', (o: (typeof ferObs)[number]) => o.yaw, [0, 10, 20, 30, 40, 50, 60, 90]],
  ['by detector score', (o: (typeof ferObs)[number]) => o.score, [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01]],
] as const) {
  console.log(`\nFER+ emotion accuracy ${title}`);
  for (let i = 0; i < edges.length - 1; i++) {
    const bin = ferObs.filter((o) => key(o) >= edges[i]! && key(o) < edges[i + 1]!);
    if (bin.length > 0) console.log(`${`[${edges[i]}, ${edges[i + 1]})`.padEnd(14)} ${String(bin.length).padStart(5)}  ${((bin.reduce((a, o) => a + o.ok, 0) / bin.length) * 100).toFixed(1).padStart(6)}%`);
  }
}

function table(title: string, key: (o: Obs) => number, edges: readonly number[], rows: readonly Obs[]): void {
  console.log(`\n${title} (${rows.length} faces)`);
  console.log('bin            n      gender acc  age MAE');
  for (let i = 0; i < edges.length - 1; i++) {
    const lo = edges[i]!;
    const hi = edges[i + 1]!;
    const bin = rows.filter((o) => key(o) >= lo && key(o) < hi);
    if (bin.length === 0) continue;
    const acc = bin.reduce((a, o) => a + o.genderOk, 0) / bin.length;
    const mae = bin.reduce((a, o) => a + o.ageErr, 0) / bin.length;
    console.log(`${`[${lo}, ${hi})`.padEnd(14)} ${String(bin.length).padStart(5)}  ${(acc * 100).toFixed(1).padStart(9)}%  ${mae.toFixed(2).padStart(7)}`);
  }
}

console.log(`UTKFace test split, ${n} images, ${obs.length} analysed faces (variants: original, shrunk 1/2–1/8, blurred σ1–4)`);
const originals = obs.filter((o) => o.variant === 'original');
table('by eye distance (px), all variants', (o) => o.eyePx, [0, 6, 8, 10, 12, 14, 16, 20, 25, 30, 40, 60, 1000], obs);
table('by sharpness (Laplacian variance of the 48×48 crop), all variants', (o) => o.sharp, [0, 10, 20, 30, 40, 60, 80, 120, 200, 400, 1e9], obs);
table('by |yaw| (degrees), originals', (o) => o.yaw, [0, 10, 20, 30, 40, 50, 60, 90, 180], originals);
table('by detector score, originals', (o) => o.score, [0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.01], originals);
const byVariant = [...new Set(obs.map((o) => o.variant))];
console.log('\nby variant');
for (const v of byVariant) {
  const b = obs.filter((o) => o.variant === v);
  const med = (xs: number[]) => xs.sort((a, c) => a - c)[Math.floor(xs.length / 2)]!;
  console.log(`${v.padEnd(10)} n ${String(b.length).padStart(4)}  eye px ${med(b.map((o) => o.eyePx)).toFixed(1).padStart(6)}  sharpness ${med(b.map((o) => o.sharp)).toFixed(0).padStart(5)}  gender ${((b.reduce((a, o) => a + o.genderOk, 0) / b.length) * 100).toFixed(1)}%  age MAE ${(b.reduce((a, o) => a + o.ageErr, 0) / b.length).toFixed(2)}`);
}
