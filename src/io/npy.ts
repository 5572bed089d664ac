/**
 * NumPy `.npy` files (format 1.0, little-endian, C order) for the three dtypes a pack uses.
 *
 * The Python trainer reads these with `numpy.load`, so the header must be exactly what numpy
 * accepts: a Python dict literal padded with spaces to a multiple of 64 bytes, ending in `\n`.
 * Reading also accepts versions 2.0/3.0 (4-byte header length) so files written by numpy itself
 * round-trip.
 */
import { open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { DatasetError } from '../core/errors.js';

export type NpyDtype = 'uint8' | 'int64' | 'float32';

/** Typed array for each dtype; int64 is a BigInt64Array because JS numbers cannot hold all int64s. */
export interface NpyDataMap {
  uint8: Uint8Array;
  int64: BigInt64Array;
  float32: Float32Array;
}
export type NpyData = NpyDataMap[NpyDtype];

export interface NpyArray<D extends NpyDtype = NpyDtype> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: NpyDataMap[D];
}

const MAGIC = Uint8Array.of(0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59); // \x93NUMPY
const DESCR: Record<NpyDtype, string> = { uint8: '|u1', int64: '<i8', float32: '<f4' };
const ITEM_BYTES: Record<NpyDtype, number> = { uint8: 1, int64: 8, float32: 4 };
/** numpy aligns the data start to 64 bytes (so memory-mapped arrays are aligned); so do we. */
const ALIGN = 64;
/** Widest first dimension a streaming writer reserves header room for (10^15 rows is plenty). */
const RESERVED_ROWS = 999_999_999_999_999;

function assertLittleEndianHost(): void {
  // Typed arrays use host byte order; every platform Node 20 ships for is little-endian, but a
  // silent byte swap would corrupt a whole training set, so refuse rather than guess.
  if (endianness() !== 'LE') {
    throw new DatasetError('DATASET_INVALID', 'writing .npy requires a little-endian host');
  }
}

function shapeLiteral(shape: readonly number[]): string {
  if (shape.length === 0) return '()';
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new DatasetError('DATASET_INVALID', `${what}: invalid .npy dimension ${String(d)} in shape [${shape.join(', ')}]`);
    }
  }
}

/**
 * The full preamble (magic, version, length, padded dict) for an array. `minBytes` pads it further
 * so that a streaming writer can later rewrite the header with a different row count in place.
 */
export function encodeNpyHeader(dtype: NpyDtype, shape: readonly number[], minBytes = 0): Uint8Array {
  checkShape(shape, 'encodeNpyHeader');
  const dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1; // + trailing '\n'
  const total = Math.ceil(Math.max(unpadded, minBytes) / ALIGN) * ALIGN;
  const headerLen = total - MAGIC.length - 4;
  if (headerLen > 0xffff) throw new DatasetError('DATASET_INVALID', '.npy header longer than 65535 bytes (format 1.0 limit)');
  const out = new Uint8Array(total);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = headerLen & 0xff;
  out[9] = headerLen >> 8;
  const text = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

export interface NpyHeader {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** Byte offset of the first array element. */
  readonly dataOffset: number;
}

/** Parses the preamble of a `.npy` file. `source` names the file in errors. */
export function parseNpyHeader(bytes: Uint8Array, source = '<npy>'): NpyHeader {
  const bad = (why: string): DatasetError => new DatasetError('DATASET_INVALID', `not a readable .npy file: ${why}`, { source });
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad('missing \\x93NUMPY magic');
  const major = bytes[6] ?? 0;
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = (bytes[8] ?? 0) | ((bytes[9] ?? 0) << 8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated header');
    headerLen = new DataView(bytes.buffer, bytes.byteOffset, 12).getUint32(8, true);
    start = 12;
  } else {
    throw bad(`unsupported format version ${major}.${bytes[7] ?? 0}`);
  }
  if (bytes.length < start + headerLen) throw bad('truncated header');
  const text = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`malformed header ${JSON.stringify(text.trim())}`);
  if (fortran === 'True') throw bad('Fortran-order arrays are not supported');
  const dtype = dtypeOf(descr);
  if (dtype === undefined) throw bad(`unsupported dtype '${descr}' (expected uint8, <i8 or <f4)`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => (/^\d+L?$/.test(s) ? Number.parseInt(s, 10) : Number.NaN));
  if (shape.some((d) => !Number.isSafeInteger(d))) throw bad(`malformed shape (${shapeText})`);
  return { dtype, shape, dataOffset: start + headerLen };
}

function dtypeOf(descr: string): NpyDtype | undefined {
  switch (descr) {
    case '|u1':
    case '<u1':
    case 'u1':
    case '|b1': // bool is stored one byte per element, 0/1
      return 'uint8';
    case '<i8':
      return 'int64';
    case '<f4':
      return 'float32';
    default:
      return undefined;
  }
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function asBytes(data: NpyData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The whole file's bytes for an in-memory array. */
export function encodeNpy(array: NpyArray): Uint8Array {
  assertLittleEndianHost();
  const n = elementCount(array.shape);
  if (array.data.length !== n) {
    throw new DatasetError('DATASET_INVALID', `array has ${array.data.length} elements but shape [${array.shape.join(', ')}] needs ${n}`);
  }
  const header = encodeNpyHeader(array.dtype, array.shape);
  const out = new Uint8Array(header.length + array.data.byteLength);
  out.set(header, 0);
  out.set(asBytes(array.data), header.length);
  return out;
}

/** Decodes a whole `.npy` file into freshly allocated typed arrays. */
export function decodeNpy(bytes: Uint8Array, source = '<npy>'): NpyArray {
  assertLittleEndianHost();
  const header = parseNpyHeader(bytes, source);
  const n = elementCount(header.shape);
  const byteLength = n * ITEM_BYTES[header.dtype];
  if (bytes.length - header.dataOffset !== byteLength) {
    throw new DatasetError(
      'DATASET_INVALID',
      `not a readable .npy file: shape [${header.shape.join(', ')}] needs ${byteLength} data bytes, file has ${bytes.length - header.dataOffset}`,
      { source },
    );
  }
  // A fresh Uint8Array, not bytes.slice(): Buffer#slice shares memory and would also keep the
  // Buffer subclass, and a copy guarantees the alignment BigInt64Array/Float32Array need.
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(header.dataOffset, header.dataOffset + byteLength));
  const buf = copy.buffer;
  switch (header.dtype) {
    case 'uint8':
      return { dtype: 'uint8', shape: header.shape, data: copy };
    case 'int64':
      return { dtype: 'int64', shape: header.shape, data: new BigInt64Array(buf, 0, n) };
    case 'float32':
      return { dtype: 'float32', shape: header.shape, data: new Float32Array(buf, 0, n) };
  }
}

export async function writeNpy(path: string, array: NpyArray): Promise<void> {
  await writeFile(path, encodeNpy(array));
}

export async function readNpy(path: string): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new DatasetError('INPUT_NOT_FOUND', 'cannot read .npy file', { source: path, cause });
  }
  return decodeNpy(bytes, path);
}

export interface NpyWriterOptions {
  /**
   * Number of rows when known up front. When omitted the header reserves room for any row count
   * and is rewritten with the real count by `close()`, so the file never has to be copied.
   */
  readonly rows?: number;
  /** Bytes buffered before a write to disk. @default 1 MiB */
  readonly bufferBytes?: number;
}

/**
 * Streams an array to disk row by row: `[rows, ...rowShape]`. Memory use is one buffer, however
 * many rows are written, which is what lets `prepare` write 35k-image packs.
 */
export class NpyWriter<D extends NpyDtype = NpyDtype> {
  readonly path: string;
  readonly dtype: D;
  readonly rowShape: readonly number[];
  /** Elements per row. */
  readonly rowSize: number;
  private readonly handle: FileHandle;
  private readonly declaredRows: number | undefined;
  private readonly headerBytes: number;
  private readonly buffer: Uint8Array;
  private buffered = 0;
  private written = 0;
  private rowCount = 0;
  private closed = false;

  private constructor(path: string, dtype: D, rowShape: readonly number[], handle: FileHandle, headerBytes: number, options: NpyWriterOptions) {
    this.path = path;
    this.dtype = dtype;
    this.rowShape = [...rowShape];
    this.rowSize = elementCount(rowShape);
    this.handle = handle;
    this.headerBytes = headerBytes;
    this.declaredRows = options.rows;
    this.buffer = new Uint8Array(Math.max(options.bufferBytes ?? 1 << 20, this.rowSize * ITEM_BYTES[dtype]));
  }

  static async open<D extends NpyDtype>(path: string, dtype: D, rowShape: readonly number[], options: NpyWriterOptions = {}): Promise<NpyWriter<D>> {
    assertLittleEndianHost();
    checkShape(rowShape, path);
    if (options.rows !== undefined) checkShape([options.rows], path);
    const header =
      options.rows !== undefined
        ? encodeNpyHeader(dtype, [options.rows, ...rowShape])
        : encodeNpyHeader(dtype, [RESERVED_ROWS, ...rowShape]);
    const handle = await open(path, 'w');
    try {
      await handle.write(header, 0, header.length, 0);
    } catch (e) {
      await handle.close();
      throw e;
    }
    return new NpyWriter(path, dtype, rowShape, handle, header.length, options);
  }

  /** Rows appended so far. */
  get rows(): number {
    return this.rowCount;
  }

  /** Appends one or more whole rows (`data.length` must be a multiple of the row size). */
  async append(data: NpyDataMap[D]): Promise<void> {
    if (this.closed) throw new DatasetError('DATASET_INVALID', 'append after close', { source: this.path });
    if (this.rowSize === 0 ? data.length !== 0 : data.length % this.rowSize !== 0) {
      throw new DatasetError('DATASET_INVALID', `append of ${data.length} elements is not a whole number of rows of ${this.rowSize}`, { source: this.path });
    }
    const bytes = asBytes(data);
    if (this.buffered + bytes.length > this.buffer.length) await this.flush();
    if (bytes.length > this.buffer.length) {
      await this.writeAt(bytes);
    } else {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
    }
    this.rowCount += this.rowSize === 0 ? 0 : data.length / this.rowSize;
  }

  private async writeAt(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, off, bytes.length - off, this.headerBytes + this.written);
      off += bytesWritten;
      this.written += bytesWritten;
    }
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    await this.writeAt(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  /** Flushes, fixes the row count in the header and closes. Returns the number of rows. */
  async close(): Promise<number> {
    if (this.closed) return this.rowCount;
    this.closed = true;
    try {
      await this.flush();
      if (this.declaredRows !== undefined) {
        if (this.declaredRows !== this.rowCount) {
          throw new DatasetError('DATASET_INVALID', `declared ${this.declaredRows} rows but wrote ${this.rowCount}`, { source: this.path });
        }
      } else {
        // Same byte length as the reserved header: the count has at most as many digits.
        const header = encodeNpyHeader(this.dtype, [this.rowCount, ...this.rowShape], this.headerBytes);
        if (header.length !== this.headerBytes) throw new DatasetError('DATASET_INVALID', 'header no longer fits its reserved space', { source: this.path });
        await this.handle.write(header, 0, header.length, 0);
      }
      await this.handle.truncate(this.headerBytes + this.written);
    } finally {
      await this.handle.close();
    }
    return this.rowCount;
  }

  /** Closes without fixing the header (after a failure); the file is left incomplete. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
