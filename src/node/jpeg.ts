/**
 * The fast path of the decode stage for everyday JPEGs: mozjpeg compiled to WebAssembly
 * (@jsquash/jpeg, the Squoosh build) instead of sharp. Both are mozjpeg with its default (islow)
 * IDCT and fancy upsampling, so the pixels of a well-formed JPEG are the same bit for bit
 * (test/jpeg.test.ts compares them); what differs is the cost around the decode: sharp spends
 * ~5 ms on a 640×480 JPEG on the development machine, most of it page faults on fresh output
 * buffers and libvips' pipeline set-up, the WebAssembly decoder ~3 ms in its own reused memory
 * (README "Speed"). A damaged file that libjpeg decodes without a warning can differ in the
 * damaged blocks: the WebAssembly build computes in scalar C, the native one in SIMD, and the two
 * part where corrupt coefficients overflow (with JSIMD_FORCENONE=1 sharp agrees with it).
 *
 * Only plain files take this path: 8-bit baseline or progressive, gray or YCbCr, no ICC profile
 * (sharp converts through it), no Adobe colour transform, ending in EOI, at most FAST_MAX_PIXELS.
 * Anything else, and any file the decoder warns about or rejects, returns undefined and goes to
 * sharp, which gives the typed error a damaged file deserves. EXIF orientation is applied here.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { rgbaToRgbInto } from '../core/raw-image.js';
import type { RgbImage } from '../core/types.js';

/** Larger JPEGs go to sharp (the decoder's memory grows to its largest image and stays). */
export const FAST_MAX_PIXELS = 4_200_000;

/** What the fast path needs from a JPEG's markers (before the first scan). */
export interface JpegInfo {
  readonly width: number;
  readonly height: number;
  readonly components: number;
  /** SOF0/1/2, 8-bit: what mozjpeg decodes as sharp does. */
  readonly plainFrame: boolean;
  readonly icc: boolean;
  readonly adobe: boolean;
  /** EXIF orientation 1–8 (1 when absent or invalid). */
  readonly orientation: number;
  readonly endsWithEoi: boolean;
}

/** Reads the markers of a JPEG up to its first scan; undefined when it is not a well-formed JPEG header. */
export function readJpegInfo(b: Uint8Array): JpegInfo | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let p = 2;
  let frame: { width: number; height: number; components: number; plain: boolean } | undefined;
  let icc = false;
  let adobe = false;
  let orientation = 1;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return undefined;
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (len < 2 || p + 2 + len > b.length) return undefined;
    const seg = b.subarray(p + 4, p + 2 + len);
    if (marker === 0xda) break; // SOS: the entropy-coded data starts
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (seg.length < 6) return undefined;
      frame = { width: (seg[3]! << 8) | seg[4]!, height: (seg[1]! << 8) | seg[2]!, components: seg[5]!, plain: (marker <= 0xc2) && seg[0] === 8 };
    } else if (marker === 0xe2 && ascii(seg, 0, 12) === 'ICC_PROFILE\0') icc = true;
    else if (marker === 0xee && ascii(seg, 0, 5) === 'Adobe') adobe = true;
    else if (marker === 0xe1 && ascii(seg, 0, 6) === 'Exif\0\0') orientation = exifOrientation(seg.subarray(6));
    p += 2 + len;
  }
  if (frame === undefined) return undefined;
  let end = b.length;
  while (end > 2 && b[end - 1] === 0x00) end--; // zero padding after EOI, as some writers leave
  return { width: frame.width, height: frame.height, components: frame.components, plainFrame: frame.plain, icc, adobe, orientation, endsWithEoi: b[end - 2] === 0xff && b[end - 1] === 0xd9 };
}

function ascii(b: Uint8Array, from: number, n: number): string {
  return String.fromCharCode(...b.subarray(from, from + n));
}

/** The Orientation tag (0x0112) of IFD0 of a TIFF-structured EXIF block; 1 when absent or invalid. */
function exifOrientation(t: Uint8Array): number {
  if (t.length < 8) return 1;
  const le = t[0] === 0x49 && t[1] === 0x49;
  if (!le && !(t[0] === 0x4d && t[1] === 0x4d)) return 1;
  const u16 = (o: number) => (le ? t[o]! | (t[o + 1]! << 8) : (t[o]! << 8) | t[o + 1]!);
  const u32 = (o: number) => (le ? (t[o]! | (t[o + 1]! << 8) | (t[o + 2]! << 16)) + t[o + 3]! * 2 ** 24 : t[o]! * 2 ** 24 + ((t[o + 1]! << 16) | (t[o + 2]! << 8) | t[o + 3]!));
  const ifd = u32(4);
  if (ifd + 2 > t.length) return 1;
  const n = u16(ifd);
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + 12 * k;
    if (e + 12 > t.length) return 1;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8);
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

/** Whether a JPEG takes the fast path (see the module comment). */
export function fastPathEligible(info: JpegInfo | undefined, pixelLimit: number): info is JpegInfo {
  return (
    info !== undefined &&
    info.plainFrame &&
    (info.components === 1 || info.components === 3) &&
    !info.icc &&
    !info.adobe &&
    info.endsWithEoi &&
    info.width > 0 &&
    info.height > 0 &&
    info.width * info.height <= Math.min(FAST_MAX_PIXELS, pixelLimit)
  );
}

/**
 * RGBA pixels (as the decoder gives them) → RGB with an EXIF orientation applied: the rotations
 * and mirrors libvips' autorotate makes (5–8 swap width and height).
 */
export function orientRgba(pixels: Uint8Array | Uint8ClampedArray, w: number, h: number, orientation: number): RgbImage {
  const rgba = new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength); // one array type in the loops
  const swap = orientation >= 5;
  const W = swap ? h : w;
  const H = swap ? w : h;
  const out = new Uint8Array(W * H * 3);
  if (orientation === 1) {
    rgbaToRgbInto(rgba, w * h, out); // the decoder's alpha is 255 everywhere: a plain copy
    return { data: out, width: W, height: H, channels: 3 };
  }
  // Output pixel (X, Y) for input pixel (x, y): X = ax·x + bx·y + cx, Y = ay·x + by·y + cy.
  const [ax, bx, cx, ay, by, cy] = ORIENT[orientation]!(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      const o = ((ay * x + by * y + cy) * W + (ax * x + bx * y + cx)) * 3;
      out[o] = rgba[i]!;
      out[o + 1] = rgba[i + 1]!;
      out[o + 2] = rgba[i + 2]!;
    }
  }
  return { data: out, width: W, height: H, channels: 3 };
}

const ORIENT: Record<number, (w: number, h: number) => readonly [number, number, number, number, number, number]> = {
  2: (w) => [-1, 0, w - 1, 0, 1, 0], // mirrored left-right
  3: (w, h) => [-1, 0, w - 1, 0, -1, h - 1], // rotated 180°
  4: (_w, h) => [1, 0, 0, 0, -1, h - 1], // mirrored top-bottom
  5: () => [0, 1, 0, 1, 0, 0], // transposed
  6: (_w, h) => [0, -1, h - 1, 1, 0, 0], // rotated 90° clockwise to display
  7: (w, h) => [0, -1, h - 1, -1, 0, w - 1], // transversed
  8: (w) => [0, 1, 0, -1, 0, w - 1], // rotated 90° anticlockwise to display
};

interface Codec {
  decode(bytes: Uint8Array): Promise<RgbaImage | undefined>;
}
interface RgbaImage {
  readonly data: Uint8ClampedArray;
  readonly width: number;
  readonly height: number;
}
interface MozjpegModule {
  decode(bytes: Uint8Array, preserveOrientation: boolean): RgbaImage | null;
}

/** The WebAssembly API of Node (its TypeScript types here come without the DOM's). */
const Wasm = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object, imports: object) => { exports: object } } }).WebAssembly;

/**
 * The decoder of this thread, compiled on first use (undefined when @jsquash/jpeg is not
 * installed or its WebAssembly does not load: everything then goes to sharp). Its memory is
 * reused from image to image.
 */
let codec: Promise<Codec | undefined> | undefined;

export function jpegCodec(): Promise<Codec | undefined> {
  codec ??= loadCodec();
  return codec;
}

async function loadCodec(): Promise<Codec | undefined> {
  try {
    const require = createRequire(import.meta.url);
    const wasmPath = require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm');
    const factory = ((await import('@jsquash/jpeg/codec/dec/mozjpeg_dec.js')) as { default: (o: object) => Promise<MozjpegModule> }).default;
    const wasm = new Wasm.Module(await readFile(wasmPath));
    // libjpeg's warnings and errors arrive here; any message means "let sharp decide".
    let messages = 0;
    const instantiate = () =>
      factory({
        noInitialRun: true,
        print: () => undefined,
        printErr: () => void messages++,
        instantiateWasm: (imports: object, done: (i: object) => void) => {
          const instance = new Wasm.Instance(wasm, imports);
          done(instance);
          return instance.exports;
        },
      });
    let ready = instantiate();
    await ready;
    const decode = async (bytes: Uint8Array): Promise<RgbaImage | undefined> => {
      const current = ready;
      const module = await current;
      if (current !== ready) return decode(bytes); // replaced while this call waited
      messages = 0;
      try {
        const r = module.decode(bytes, false); // false: the pixels as stored; orientRgba applies EXIF orientation
        return r === null || messages > 0 ? undefined : r;
      } catch {
        // libjpeg's error_exit ends in emscripten's exit(): what that decode allocated is never
        // freed, and a few hundred bad files in a row exhaust the instance's memory (seen in
        // fuzzing). The next file gets a fresh instance of the compiled module (1.7 ms).
        ready = instantiate();
        return undefined;
      }
    };
    return { decode };
  } catch {
    return undefined;
  }
}

/**
 * The fast decode of a JPEG, or undefined when the file is not eligible or the decoder did not
 * accept it cleanly (the caller then decodes with sharp).
 */
export async function decodeJpegFast(bytes: Uint8Array, pixelLimit: number): Promise<RgbImage | undefined> {
  const info = readJpegInfo(bytes);
  if (!fastPathEligible(info, pixelLimit)) return undefined;
  const c = await jpegCodec();
  const r = await c?.decode(bytes);
  if (r === undefined || r.width !== info.width || r.height !== info.height) return undefined;
  return orientRgba(r.data, r.width, r.height, info.orientation);
}
