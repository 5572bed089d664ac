import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DatasetError } from '../src/core/errors.js';
import { decodeNpy, encodeNpy, encodeNpyHeader, NpyWriter, parseNpyHeader, readNpy, writeNpy } from '../src/io/npy.js';

/** Builds a v1.0 file by hand, the way the format spec describes it, independent of encodeNpyHeader. */
function handMade(dict: string, data: Uint8Array, major = 1): Uint8Array {
  const lenBytes = major === 1 ? 2 : 4;
  const pre = 6 + 2 + lenBytes;
  let header = dict;
  while ((pre + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = new Uint8Array(pre + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  if (major === 1) {
    out[8] = header.length & 0xff;
    out[9] = header.length >> 8;
  } else {
    new DataView(out.buffer).setUint32(8, header.length, true);
  }
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(data, pre + header.length);
  return out;
}

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

describe('npy', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'facesense-npy-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes headers byte-identical to numpy.save', () => {
    // Captured from numpy 2.x: np.save(f, np.arange(6, dtype='<f4').reshape(2, 3)) and friends.
    const f4 = "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }" + ' '.repeat(58) + '\n';
    const i8 = "\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }" + ' '.repeat(60) + '\n';
    const u1 = "\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 1), }" + ' '.repeat(55) + '\n';
    assert.deepEqual(encodeNpyHeader('float32', [2, 3]), latin1(f4));
    assert.deepEqual(encodeNpyHeader('int64', [3]), latin1(i8));
    assert.deepEqual(encodeNpyHeader('uint8', [2, 2, 1]), latin1(u1));
    assert.equal(encodeNpyHeader('uint8', []).length % 64, 0);
  });

  it('parses a hand-written header and its data', () => {
    const values = new Float32Array([1.5, -2, 3.25, 0, Number.NaN, 7]);
    const bytes = handMade("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", new Uint8Array(values.buffer));
    const h = parseNpyHeader(bytes);
    assert.equal(h.dtype, 'float32');
    assert.deepEqual(h.shape, [2, 3]);
    assert.equal(h.dataOffset, 128);
    const arr = decodeNpy(bytes);
    assert.deepEqual([...arr.data as Float32Array].slice(0, 4), [1.5, -2, 3.25, 0]);
    assert.ok(Number.isNaN((arr.data as Float32Array)[4]));

    // Key order and spacing are not fixed by the spec; numpy also writes 1-tuples as "(5,)".
    const loose = handMade("{'shape': (5,),'fortran_order':False,'descr':'|u1'}", Uint8Array.of(1, 2, 3, 4, 5));
    assert.deepEqual(decodeNpy(loose).shape, [5]);
    const scalar = handMade("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", new Uint8Array(BigInt64Array.of(-9n).buffer));
    const s = decodeNpy(scalar);
    assert.deepEqual(s.shape, []);
    assert.equal((s.data as BigInt64Array)[0], -9n);
    const v2 = handMade("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(BigInt64Array.of(42n).buffer), 2);
    assert.equal((decodeNpy(v2).data as BigInt64Array)[0], 42n);
  });

  it('rejects what it cannot read, naming the file', () => {
    const bad = (dict: string, data = new Uint8Array(8)): Uint8Array => handMade(dict, data);
    assert.throws(() => decodeNpy(bad("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), 'big.npy'), (e: unknown) => e instanceof DatasetError && /big\.npy.*>f4/.test(e.message));
    assert.throws(() => decodeNpy(bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }")), /Fortran/);
    assert.throws(() => decodeNpy(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }")), /needs 12 data bytes/);
    assert.throws(() => decodeNpy(latin1('PK\x03\x04 not numpy at all')), /magic/);
  });

  it('round-trips uint8, int64 and float32 through files', async () => {
    const u8 = { dtype: 'uint8' as const, shape: [2, 3, 3, 1], data: Uint8Array.from({ length: 18 }, (_, i) => i * 14) };
    const i64 = { dtype: 'int64' as const, shape: [4], data: BigInt64Array.of(-1n, 0n, 6n, 9007199254740993n) };
    const f32 = { dtype: 'float32' as const, shape: [2, 2], data: Float32Array.of(0.25, Number.NaN, -1e30, 3) };
    for (const [name, arr] of [['u8', u8], ['i64', i64], ['f32', f32]] as const) {
      const path = join(dir, `${name}.npy`);
      await writeNpy(path, arr);
      const back = await readNpy(path);
      assert.equal(back.dtype, arr.dtype);
      assert.deepEqual(back.shape, arr.shape);
      assert.deepEqual(back.data, arr.data);
      assert.equal((await readFile(path)).length, encodeNpy(arr).length);
    }
    await assert.rejects(readNpy(join(dir, 'missing.npy')), (e: unknown) => e instanceof DatasetError && e.code === 'INPUT_NOT_FOUND');
  });

  it('streams rows with an unknown count and fixes the header on close', async () => {
    const path = join(dir, 'stream.npy');
    const w = await NpyWriter.open(path, 'uint8', [4, 4, 1], { bufferBytes: 40 });
    for (let r = 0; r < 25; r++) await w.append(new Uint8Array(16).fill(r));
    await w.append(new Uint8Array(32).fill(99)); // two rows at once, larger than the buffer
    assert.equal(await w.close(), 27);
    const back = await readNpy(path);
    assert.deepEqual(back.shape, [27, 4, 4, 1]);
    assert.equal(back.data[16 * 24], 24);
    assert.equal(back.data[16 * 26 + 15], 99);
    const h = parseNpyHeader(await readFile(path));
    assert.equal(h.dataOffset % 64, 0);
    assert.equal((await stat(path)).size, h.dataOffset + 27 * 16);
  });

  it('writes a declared row count exactly and refuses a wrong one', async () => {
    const ok = await NpyWriter.open(join(dir, 'declared.npy'), 'float32', [2], { rows: 2 });
    await ok.append(Float32Array.of(1, 2, 3, 4));
    await ok.close();
    assert.deepEqual((await readNpy(join(dir, 'declared.npy'))).shape, [2, 2]);
    const short = await NpyWriter.open(join(dir, 'short.npy'), 'int64', [], { rows: 3 });
    await short.append(BigInt64Array.of(1n));
    await assert.rejects(short.close(), /declared 3 rows but wrote 1/);
    await assert.rejects(
      (async () => {
        const w = await NpyWriter.open(join(dir, 'ragged.npy'), 'float32', [3]);
        try {
          await w.append(Float32Array.of(1, 2));
        } finally {
          await w.abort();
        }
      })(),
      /not a whole number of rows/,
    );
  });

  it('reads a file numpy could have written with a non-aligned header', async () => {
    const path = join(dir, 'old.npy');
    // numpy < 1.14 aligned to 16 bytes; the reader must not assume 64.
    const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
    let header = dict;
    while ((10 + header.length + 1) % 16 !== 0) header += ' ';
    header += '\n';
    const bytes = new Uint8Array(10 + header.length + 3);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
    bytes.set(latin1(header), 10);
    bytes.set([7, 8, 9], 10 + header.length);
    await writeFile(path, bytes);
    assert.deepEqual([...(await readNpy(path)).data], [7, 8, 9]);
  });
});
