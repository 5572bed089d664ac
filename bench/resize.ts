/**
 * The detector's input resize in Node: sharp (the Node platform's default) against the core's
 * pure-TypeScript resize (what the browser runs), whole YuNet detections on the same photos,
 * interleaved in one process so machine load hits both alike. Part of `npm run bench`;
 * `node dist/bench/resize.js` runs it alone.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import { resizeRgb } from '../src/core/resize.js';
import type { RgbImage } from '../src/core/types.js';
import { createModelStore } from '../src/node/models/store.js';
import { createYunetDetector } from '../src/node/platform.js';
import { sharpResizeRgb } from '../src/node/resize.js';
import { interleaved, type SpeedRow } from './speed.js';

async function rgbOf(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

/** Per photo: ms per YuNet detect with the pure-TS resize → with sharp's, as a ratio, and the faces each finds. */
export async function benchDetectResize(modelPath: string, photos: readonly { label: string; image: RgbImage }[]): Promise<SpeedRow[]> {
  const portable = await createYunetDetector({ modelPath, resize: resizeRgb });
  const native = await createYunetDetector({ modelPath, resize: sharpResizeRgb });
  const rows: SpeedRow[] = [];
  try {
    for (const { label, image } of photos) {
      const [a, b] = await interleaved([() => portable.detect(image, DEFAULT_DETECT_OPTIONS), () => native.detect(image, DEFAULT_DETECT_OPTIONS)], 7, 5);
      const nA = (await portable.detect(image, DEFAULT_DETECT_OPTIONS)).length;
      const nB = (await native.detect(image, DEFAULT_DETECT_OPTIONS)).length;
      // At or under 640 px nothing is resized: both run the same code, and the ratio shows the noise.
      const control = Math.max(image.width, image.height) <= 640 ? ' (no downscale at this size: a control, the ratio is run-to-run noise)' : '';
      rows.push({ bench: `speed: detect yunet ${label}, detector resize pure-TS → sharp`, value: a! / b!, unit: '× faster', note: `${a!.toFixed(1)} → ${b!.toFixed(1)} ms per detect${control}; ${nA} / ${nB} face(s); Node platform default is sharp, the browser keeps pure-TS` });
    }
  } finally {
    await portable.dispose();
    await native.dispose();
  }
  return rows;
}

export async function benchResizeOnMedia(media: string, modelsDir: string): Promise<SpeedRow[]> {
  const store = createModelStore({ modelsDir, bundledModelsDir: resolve('models'), allowDownload: false });
  const modelPath = await store.resolveFile({ id: 'yunet', file: 'yunet_dynamic.onnx' });
  const group = await rgbOf(join(media, 'multi_face.jpg'));
  const single = await rgbOf(join(media, 'single_face.jpg'));
  return benchDetectResize(modelPath, [
    { label: `multi_face ${group.width}×${group.height}`, image: group },
    { label: `single_face ${single.width}×${single.height}`, image: single },
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const shared = resolve(process.cwd(), '..', 'shared');
  const rows = await benchResizeOnMedia(join(shared, 'media'), process.env.FACESENSE_MODELS ?? join(shared, 'models'));
  for (const r of rows) process.stdout.write(`| ${r.bench} | ${r.value.toFixed(2)} | ${r.unit} | ${r.note} |\n`);
}
