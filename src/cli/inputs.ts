import { lstat, readdir, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { ImageDecodeError, type FacesenseError } from '../core/errors.js';

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
      for await (const e of walk(base, true)) {
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
      const code = (cause as NodeJS.ErrnoException).code;
      yield { path: arg, error: new ImageDecodeError(code === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE', code === 'ENOENT' ? 'no such file or directory' : `cannot access (${code})`, { source: arg, cause }) };
      continue;
    }
    if (s.isDirectory()) yield* walk(arg, false);
    else yield { path: arg };
  }
}

async function* walk(dir: string, allFiles: boolean): AsyncGenerator<InputEntry> {
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
      const link = await lstat(path).then((l) => l.isSymbolicLink(), () => false);
      yield { path, error: new ImageDecodeError('INPUT_UNREADABLE', link ? 'dangling symbolic link' : `cannot access (${(cause as NodeJS.ErrnoException).code})`, { source: path, cause }) };
      continue;
    }
    if (s.isDirectory()) yield* walk(path, allFiles);
    else if (!hasImageExt(name) && !allFiles) continue;
    else if (!s.isFile()) yield { path, error: new ImageDecodeError('INPUT_UNREADABLE', 'not a regular file (device, FIFO or socket)', { source: path }) };
    else yield { path };
  }
}
