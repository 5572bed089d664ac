/**
 * Image format from a file's first bytes (magic numbers), so messages can tell a damaged JPEG from
 * a file that is not an image at all, name formats this build cannot decode (HEIC), and refuse a
 * large file before reading it whole.
 */
export type SniffedFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif' | 'heic' | 'jp2' | 'bmp' | 'svg';

/** ISO-BMFF brands of HEVC-coded HEIF ("HEIC"); sharp's prebuilt libheif decodes AV1 (AVIF) only. */
const HEIC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs']);

function ascii(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < Math.min(to, b.length); i++) s += String.fromCharCode(b[i]!);
  return s;
}

function startsWith(b: Uint8Array, bytes: readonly number[], at = 0): boolean {
  return b.length >= at + bytes.length && bytes.every((v, i) => b[at + i] === v);
}

export function sniffImageFormat(head: Uint8Array): SniffedFormat | undefined {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(head, 0, 4) === 'GIF8') return 'gif';
  if (ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 12) === 'WEBP') return 'webp';
  if (startsWith(head, [0x49, 0x49, 0x2a, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2a]) || startsWith(head, [0x49, 0x49, 0x2b, 0x00]) || startsWith(head, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  if (ascii(head, 0, 2) === 'BM') return 'bmp';
  if (startsWith(head, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(head, [0xff, 0x4f, 0xff, 0x51])) return 'jp2';
  if (ascii(head, 4, 8) === 'ftyp') {
    const boxSize = ((head[0]! << 24) | (head[1]! << 16) | (head[2]! << 8) | head[3]!) >>> 0;
    const brands = [ascii(head, 8, 12)];
    for (let i = 16; i + 4 <= Math.min(boxSize, head.length); i += 4) brands.push(ascii(head, i, i + 4));
    if (brands.includes('avif') || brands.includes('avis')) return 'avif';
    if (brands.some((b) => HEIC_BRANDS.has(b))) return 'heic';
    return undefined;
  }
  const text = ascii(head, 0, 1024).replace(/^\uFEFF/, '').trimStart();
  if ((text.startsWith('<?xml') || text.startsWith('<svg') || text.startsWith('<!--')) && text.includes('<svg')) return 'svg';
  return undefined;
}
