import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { media, tempDir } from './media.js';

/** `n` image inputs (links to single_face.jpg and multi_face.jpg, alternating) plus one that is not an image. */
export async function imageDir(n: number): Promise<{ dir: string; images: string; inputs: string[]; faces: number }> {
  const dir = await tempDir('facesense-batch-');
  const images = join(dir, 'images');
  await mkdir(images);
  const inputs: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = join(images, `img${String(i).padStart(3, '0')}.jpg`);
    await symlink(media(i % 2 === 0 ? 'single_face.jpg' : 'multi_face.jpg'), p);
    inputs.push(p);
  }
  const bad = join(images, 'zz-not-an-image.jpg');
  await writeFile(bad, 'not a JPEG\n');
  inputs.push(bad);
  return { dir, images, inputs, faces: Math.ceil(n / 2) * 1 + Math.floor(n / 2) * 5 };
}
