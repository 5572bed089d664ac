/** Recognises common video containers from their first bytes, so image inputs that are videos get an error naming the command for videos. */

/** AVIF/HEIF share MP4's `ftyp` box; these brands are images. */
const IMAGE_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

/** The video container `bytes` start with (`MP4/MOV`, `Matroska/WebM`, `AVI`, `FLV`, `MPEG-TS`), or undefined. */
export function videoContainer(bytes: Uint8Array): string | undefined {
  if (bytes.length >= 12 && ascii(bytes, 4, 8) === 'ftyp') return IMAGE_BRANDS.has(ascii(bytes, 8, 12)) ? undefined : 'MP4/MOV';
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return 'Matroska/WebM';
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'AVI ') return 'AVI';
  if (bytes.length >= 3 && ascii(bytes, 0, 3) === 'FLV') return 'FLV';
  if (bytes.length >= 189 && bytes[0] === 0x47 && bytes[188] === 0x47) return 'MPEG-TS';
  return undefined;
}
