/**
 * `node dist/bench/emotion.js` (issue 17): the speed of each installed expression model, in one
 * process with the models interleaved round by round (bench/speed.ts `interleaved`), so that a
 * loaded machine slows them alike and the ratios hold: crop classification (batch 64, faces/s) and
 * the full pipeline on a 640×480 photo with one face and every task (images/s), the default set
 * with only its expression model replaced. `npm run bench` reports the absolute figures.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { Analyzer } from '../src/core/analyzer.js';
import type { RawImage } from '../src/core/types.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { interleaved } from './speed.js';

const MEDIA = join(resolve(process.cwd(), '..', 'shared'), 'media');
const MODELS_DIR = process.env.FACESENSE_MODELS ?? join(resolve(process.cwd(), '..', 'shared'), 'models');
/** Expression models in the order the table lists them; the first is the default. */
const EMOTION_MODELS = ['emotion-ferplus-distilled', 'emotion-ferplus-int8', 'emotion-distilled-int8', 'emotion-ferplus', 'emotion-ferplus-fast', 'emotion-fer2013', 'emotion-faceres', 'emotion-ferplus-faceres'];

async function frame(width: number, height: number): Promise<RawImage> {
  const { data, info } = await sharp(join(MEDIA, 'single_face.jpg')).rotate().removeAlpha().resize(width, height, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

async function main(): Promise<void> {
  const ids = EMOTION_MODELS.filter((id) => existsSync(resolve('models', `${id}.onnx`)));
  const store = { modelsDir: MODELS_DIR, allowDownload: false };
  const photo = await frame(640, 480);
  const crop = await frame(96, 96); // each model resizes the crop to its own input
  const crops = Array.from({ length: 64 }, () => crop);
  const alone: Analyzer[] = [];
  const full: Analyzer[] = [];
  for (const id of ids) {
    alone.push(await createAnalyzer({ models: [id], tasks: ['emotion'], store }));
    full.push(await createAnalyzer({ models: [id], store })); // expression from `id`, the other tasks from the defaults
  }
  const cropMs = await interleaved(alone.map((a) => () => a.classifyCrops(crops)), 7, 3);
  const fullMs = await interleaved(full.map((a) => () => a.analyze(photo)), 7, 5);
  const w = Math.max(...ids.map((id) => id.length));
  process.stdout.write(`${'expression model'.padEnd(w)}  crops/s (batch 64)  full pipeline images/s (1 face, every task)\n`);
  ids.forEach((id, i) => {
    process.stdout.write(`${id.padEnd(w)}  ${((64 * 1000) / cropMs[i]!).toFixed(0).padStart(18)}  ${(1000 / fullMs[i]!).toFixed(1).padStart(10)}  (${full[i]!.tasks.map((t) => `${t.task}←${t.model}`).join(', ')})\n`);
  });
  for (const a of [...alone, ...full]) await a.dispose();
}

await main();
