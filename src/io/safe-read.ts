/**
 * Bounded reading of input files (OWASP's upload rules, libvips' limits): only regular files are
 * read (a device such as /dev/zero, a FIFO or a socket would grow memory forever or block the
 * batch), the size is known before the read and capped, and the header is checked before a large
 * file is read whole, so a 1.5 GB sparse file of zeros costs 4 KiB, not 1.5 GB of memory.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { FacesenseError, ImageDecodeError } from '../core/errors.js';

/** Files larger than this are refused without being read. @default 512 MiB */
export const DEFAULT_MAX_INPUT_BYTES = 512 * 1024 * 1024;
/** Files up to this size are read whole even when their header is not recognised (sharp decides). */
const SNIFF_FREE_BYTES = 16 * 1024 * 1024;
const HEAD_BYTES = 4096;

export interface SafeReadOptions {
  /** Refuse files larger than this many bytes. @default DEFAULT_MAX_INPUT_BYTES */
  readonly maxBytes?: number;
  /**
   * Called with the file's first bytes before the rest is read; throw to refuse the file. Files
   * over 16 MiB whose header this returns `false` for are refused as an unsupported format.
   */
  readonly checkHeader?: (head: Uint8Array, size: number) => boolean;
}

/** What kind of file system object `s` is, for error messages. */
export function fileKind(s: Stats): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isSocket()) return 'a socket';
  if (s.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

function notRegular(path: string, s: Stats): ImageDecodeError {
  return new ImageDecodeError('INPUT_UNREADABLE', `is ${fileKind(s)}, not a regular file; only regular files are read`, { source: path });
}

function accessError(path: string, cause: unknown): ImageDecodeError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ImageDecodeError('INPUT_NOT_FOUND', 'no such file', { source: path, cause });
  if (code === 'ELOOP') return new ImageDecodeError('INPUT_UNREADABLE', 'symbolic link loop (ELOOP): the link resolves to itself', { source: path, cause });
  return new ImageDecodeError('INPUT_UNREADABLE', `cannot read the file (${code ?? String(cause)})`, { source: path, cause });
}

/**
 * Reads a regular file whole with a bounded read. Devices, FIFOs, sockets and directories are an
 * `INPUT_UNREADABLE` ImageDecodeError before anything is opened; files over `maxBytes` are
 * `INPUT_TOO_LARGE`. A file that shrinks during the read yields what was there.
 */
export async function readRegularFile(path: string, options: SafeReadOptions = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_INPUT_BYTES;
  let s: Stats;
  try {
    s = await stat(path);
  } catch (cause) {
    throw accessError(path, cause);
  }
  if (!s.isFile()) throw notRegular(path, s);
  let fh;
  try {
    // O_NONBLOCK: if the path was swapped for a FIFO after the stat, open must not block.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    throw accessError(path, cause);
  }
  try {
    const fs = await fh.stat();
    if (!fs.isFile()) throw notRegular(path, fs);
    const size = fs.size;
    if (size > maxBytes) {
      throw new ImageDecodeError('INPUT_TOO_LARGE', `the file is ${(size / 2 ** 20).toFixed(1)} MiB, over the input limit of ${(maxBytes / 2 ** 20).toFixed(1)} MiB; it was not read`, { source: path });
    }
    const head = new Uint8Array(Math.min(HEAD_BYTES, size));
    const got = await readFully(fh, head, 0);
    if (options.checkHeader !== undefined && !options.checkHeader(head.subarray(0, got), size) && size > SNIFF_FREE_BYTES) {
      throw new ImageDecodeError('UNSUPPORTED_FORMAT', `the file (${(size / 2 ** 20).toFixed(1)} MiB) does not start like any supported image; it was not read`, { source: path });
    }
    const buf = new Uint8Array(size);
    buf.set(head.subarray(0, got));
    const n = got < head.length ? got : got + (await readFully(fh, buf, got));
    return n === size ? buf : buf.subarray(0, n);
  } catch (cause) {
    if (cause instanceof FacesenseError) throw cause;
    throw accessError(path, cause);
  } finally {
    await fh.close();
  }
}

/** Reads into `buf` from `offset` until it is full or the file ends; returns the bytes read. */
async function readFully(fh: Awaited<ReturnType<typeof open>>, buf: Uint8Array, offset: number): Promise<number> {
  let pos = offset;
  while (pos < buf.length) {
    const { bytesRead } = await fh.read(buf, pos, buf.length - pos, pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
  }
  return pos - offset;
}
