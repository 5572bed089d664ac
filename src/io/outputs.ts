/**
 * Output locations are checked before the work starts, so a batch or a video is not analysed in
 * full only to crash (or hang) when its results cannot be written.
 */
import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { access, mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { OptionError } from '../core/errors.js';

async function kindOf(path: string): Promise<'missing' | 'dir' | 'file' | 'other'> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
  } catch {
    return 'missing';
  }
}

/**
 * Whether a file can be created in `dir`, found by creating (and removing) one: access(2) says yes
 * to root everywhere, also where nothing can be written (/sys, /proc, a read-only bind mount as
 * seen by some kernels), and says no more than the real write would.
 */
async function writable(dir: string): Promise<boolean> {
  if (!(await access(dir, constants.W_OK | constants.X_OK).then(() => true, () => false))) return false;
  const probe = join(dir, `.facesense-write-check-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await (await open(probe, 'wx')).close();
  } catch {
    return false;
  }
  await rm(probe, { force: true });
  return true;
}

/** An existing file can be opened for writing (not truncated: opened and closed). */
async function writableFile(path: string): Promise<boolean> {
  try {
    await (await open(path, 'r+')).close();
    return true;
  } catch {
    return false;
  }
}

/** An output file `path` given with `option` can be created: its directory exists and is writable, and it is not a directory. */
export async function checkOutputFile(option: string, path: string): Promise<void> {
  if (path === '') throw new OptionError(`${option}: the path is empty`);
  const kind = await kindOf(path);
  if (kind === 'dir') throw new OptionError(`${option} ${path}: is a directory; give a file name`);
  if (kind === 'other') throw new OptionError(`${option} ${path}: is not a regular file (device, FIFO or socket); give a file name`);
  const dir = dirname(resolve(path));
  const dirKind = await kindOf(dir);
  if (dirKind === 'missing') throw new OptionError(`${option} ${path}: the directory ${dir} does not exist`);
  if (dirKind !== 'dir') throw new OptionError(`${option} ${path}: ${dir} is not a directory`);
  if (kind === 'file' ? !(await writableFile(path)) : !(await writable(dir))) {
    throw new OptionError(`${option} ${path}: not writable (permission denied)`);
  }
}

/** An output directory given with `option` exists (created if missing) and files can be written into it. */
export async function checkOutputDir(option: string, dir: string): Promise<void> {
  if (dir === '') throw new OptionError(`${option}: the path is empty`);
  const kind = await kindOf(dir);
  if (kind === 'file' || kind === 'other') throw new OptionError(`${option} ${dir}: exists and is not a directory`);
  if (kind === 'missing') {
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw new OptionError(`${option} ${dir}: cannot create the directory (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
  }
  if (!(await writable(dir))) throw new OptionError(`${option} ${dir}: the directory is not writable (permission denied)`);
}

/** An output folder that the command creates itself: it may be missing, but must not be a file. */
export async function checkOutputTarget(option: string, path: string): Promise<void> {
  if (path === '') throw new OptionError(`${option}: the path is empty`);
  const kind = await kindOf(path);
  if (kind === 'file' || kind === 'other') throw new OptionError(`${option} ${path}: exists and is not a directory`);
  let parent = dirname(resolve(path));
  // The nearest existing ancestor must be a directory (mkdir -p creates the rest).
  while ((await kindOf(parent)) === 'missing' && dirname(parent) !== parent) parent = dirname(parent);
  if ((await kindOf(parent)) !== 'dir') throw new OptionError(`${option} ${path}: ${parent} is not a directory`);
}
