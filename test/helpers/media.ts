import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '../../src/core/types.js';

/** ../shared beside the repo (CI and developers have it there). */
export const SHARED = resolve(process.cwd(), '..', 'shared');
export const MEDIA = join(SHARED, 'media');
export const SHARED_MODELS = join(SHARED, 'models');
export const media = (name: string) => join(MEDIA, name);
export const hasShared = existsSync(MEDIA);

export async function tempDir(prefix = 'facesense-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function loadRgb(path: string): Promise<RgbImage> {
  const { data, info } = await sharp(path).rotate().removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
}
