import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ImageDecodeError, type FacesenseError } from '../core/errors.js';
import { fileKind } from '../io/safe-read.js';

/** Extensions picked up when walking a directory (explicitly named files are always tried). */
export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff', '.gif', '.avif', '.heic', '.heif', '.bmp']);

/** An input path to analyse, or a problem found while listing inputs (reported, never fatal). */
export type InputEntry = { readonly path: string } | { readonly path: string; readonly error: FacesenseError };

function hasImageExt(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.has(name.slice(dot).toLowerCase());
}

function isGlob(arg: string): boolean {
  return /[*?[]/.test(arg);
}

/** Converts a glob (`**`, `*`, `?`, `[...]`) to a RegExp over `/`-separated paths. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += glob.slice(i, end + 1);
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Expands CLI arguments into input files: files as given, directories recursively (image
 * extensions only, sorted), globs against the tree under their literal prefix. Unreadable entries
 * (dangling links, FIFOs, permission errors) become error entries so the batch goes on.
 */
export async function* expandInputs(args: readonly string[]): AsyncGenerator<InputEntry> {
  for (const arg of args) {
    if (isGlob(arg)) {
      const parts = arg.split('/');
      const firstGlob = parts.findIndex(isGlob);
      const base = parts.slice(0, firstGlob).join('/') || '.';
      const re = globToRegExp(resolve(arg).split(sep).join('/'));
      let matched = false;
      for await (const e of walk(base, true, new Set())) {
        if ('error' in e || re.test(resolve(e.path).split(sep).join('/'))) {
          matched = true;
          yield e;
        }
      }
      if (!matched) yield { path: arg, error: new ImageDecodeError('INPUT_NOT_FOUND', 'the pattern matches no file', { source: arg }) };
      continue;
    }
    let s;
    try {
      s = await stat(arg);
    } catch (cause) {
      yield { path: arg, error: accessError(arg, cause) };
      continue;
    }
    if (s.isDirectory()) {
      let any = false;
      for await (const e of walk(arg, false, new Set())) {
        any = true;
        yield e;
      }
      // An empty directory argument is a record too: "nothing happened" must not be silent.
      if (!any) yield { path: arg, error: new ImageDecodeError('INPUT_EMPTY', 'the directory holds no image files', { source: arg }) };
    } else yield { path: arg };
  }
}

/** A stat/lstat failure as a listing error: a missing file, a dangling link, a link loop (ELOOP). */
async function linkError(path: string, cause: unknown): Promise<FacesenseError> {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return new ImageDecodeError('INPUT_UNREADABLE', 'symbolic link loop (ELOOP): the link resolves to itself', { source: path, cause });
  const link = await lstat(path).then((l) => l.isSymbolicLink(), () => false);
  if (link && code === 'ENOENT') return new ImageDecodeError('INPUT_UNREADABLE', 'dangling symbolic link', { source: path, cause });
  return accessError(path, cause);
}

function accessError(path: string, cause: unknown): FacesenseError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ImageDecodeError('INPUT_NOT_FOUND', 'no such file or directory', { source: path, cause });
  if (code === 'ELOOP') return new ImageDecodeError('INPUT_UNREADABLE', 'symbolic link loop (ELOOP): the link resolves to itself', { source: path, cause });
  return new ImageDecodeError('INPUT_UNREADABLE', `cannot access (${code})`, { source: path, cause });
}

/**
 * Walks `dir` depth-first in name order. Links are followed, but each directory (device and inode)
 * is entered once: a link back to an ancestor or to a directory already walked is reported, not
 * followed, so a link loop ends instead of listing the same photo forever.
 */
async function* walk(dir: string, allFiles: boolean, seen: Set<string>): AsyncGenerator<InputEntry> {
  try {
    const d = await stat(dir);
    const key = `${d.dev}:${d.ino}`;
    if (seen.has(key)) {
      yield { path: dir, error: new ImageDecodeError('INPUT_UNREADABLE', `directory already walked (a symbolic link loop or a second link to it: ${await realpath(dir).catch(() => dir)}); not followed again`, { source: dir }) };
      return;
    }
    seen.add(key);
  } catch (cause) {
    yield { path: dir, error: await linkError(dir, cause) };
    return;
  }
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (cause) {
    yield { path: dir, error: new ImageDecodeError('INPUT_UNREADABLE', `cannot list the directory (${(cause as NodeJS.ErrnoException).code})`, { source: dir, cause }) };
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    let s;
    try {
      s = await stat(path);
    } catch (cause) {
      yield { path, error: await linkError(path, cause) };
      continue;
    }
    if (s.isDirectory()) yield* walk(path, allFiles, seen);
    else if (!hasImageExt(name) && !allFiles) continue;
    else if (!s.isFile()) yield { path, error: new ImageDecodeError('INPUT_UNREADABLE', `is ${fileKind(s)}, not a regular file; only regular files are read`, { source: path }) };
    else yield { path };
  }
}
