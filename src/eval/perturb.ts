/**
 * Robustness checks (issue 17): the same test split degraded the way photos from elsewhere are —
 * stored as low-quality JPEG, out of focus, small (few pixels between the eyes), black-and-white,
 * badly exposed. `facesense eval --perturb SPEC` applies one degradation to every image before the
 * analyzer sees it (before detection, as a real photo would be); running eval once per SPEC gives
 * the robustness report.
 *
 * SPEC: `jpeg:Q` (quality 1..100), `blur:S` (Gaussian sigma in pixels, 0.3..100),
 * `downscale:F` (shrink by F in (0, 1), then enlarge back to the original size, both bilinear:
 * a small face seen at the same framing; UTKFace chips have their eyes 0.395 of the width apart,
 * 79 px at 200 px, so `downscale:0.3` leaves 24 px between the eyes), `gray`,
 * `brightness:B` (add B in -255..255), `contrast:C` (scale around mid-gray by C in (0, 4]).
 */
import sharp from 'sharp';
import { ImageDecodeError, OptionError } from '../core/errors.js';
import type { ImageInput } from '../core/types.js';

export type Perturbation =
  | { readonly kind: 'jpeg'; readonly quality: number }
  | { readonly kind: 'blur'; readonly sigma: number }
  | { readonly kind: 'downscale'; readonly factor: number }
  | { readonly kind: 'gray' }
  | { readonly kind: 'brightness'; readonly offset: number }
  | { readonly kind: 'contrast'; readonly factor: number };

export const PERTURBATION_HELP = 'jpeg:Q | blur:SIGMA | downscale:F | gray | brightness:B | contrast:C';

function numberIn(spec: string, text: string | undefined, lo: number, hi: number, open: boolean): number {
  const v = text === undefined || text.trim() === '' ? NaN : Number(text);
  const ok = Number.isFinite(v) && (open ? v > lo && v < hi : v >= lo && v <= hi);
  if (!ok) throw new OptionError(`--perturb ${spec}: the value must be a number in ${open ? `(${lo}, ${hi})` : `[${lo}, ${hi}]`}`);
  return v;
}

/** Parses `--perturb SPEC`; a typed OptionError names the problem. */
export function parsePerturbation(spec: string): Perturbation {
  const [name, value, ...rest] = spec.split(':');
  if (rest.length > 0) throw new OptionError(`--perturb ${spec}: expected NAME or NAME:VALUE (${PERTURBATION_HELP})`);
  switch (name) {
    case 'jpeg':
      return { kind: 'jpeg', quality: Math.round(numberIn(spec, value, 1, 100, false)) };
    case 'blur':
      return { kind: 'blur', sigma: numberIn(spec, value, 0.3, 100, false) };
    case 'downscale':
      return { kind: 'downscale', factor: numberIn(spec, value, 0, 1, true) };
    case 'gray':
      if (value !== undefined) throw new OptionError(`--perturb ${spec}: gray takes no value`);
      return { kind: 'gray' };
    case 'brightness':
      return { kind: 'brightness', offset: numberIn(spec, value, -255, 255, false) };
    case 'contrast':
      return { kind: 'contrast', factor: numberIn(spec, value, 0, 4.000001, true) };
    default:
      throw new OptionError(`--perturb ${spec}: unknown degradation "${name ?? ''}" (${PERTURBATION_HELP})`);
  }
}

/** A short name for reports and file names, e.g. `jpeg30`. */
export function perturbationName(p: Perturbation): string {
  switch (p.kind) {
    case 'jpeg':
      return `jpeg${p.quality}`;
    case 'blur':
      return `blur${p.sigma}`;
    case 'downscale':
      return `downscale${p.factor}`;
    case 'gray':
      return 'gray';
    case 'brightness':
      return `brightness${p.offset >= 0 ? '+' : ''}${p.offset}`;
    case 'contrast':
      return `contrast${p.factor}`;
  }
}

function open(input: ImageInput): ReturnType<typeof sharp> {
  if (typeof input === 'string' || input instanceof Uint8Array) return sharp(input, { failOn: 'error', pages: 1 }).rotate();
  return sharp(input.data, { raw: { width: input.width, height: input.height, channels: input.channels } });
}

/**
 * The degraded image, encoded (PNG, or JPEG for `jpeg`): what the analyzer then decodes as any
 * input. Unreadable input rejects with an ImageDecodeError, which eval reports per file.
 */
export async function applyPerturbation(input: ImageInput, p: Perturbation): Promise<Uint8Array> {
  try {
    return await degrade(input, p);
  } catch (e) {
    const source = typeof input === 'string' ? input : undefined;
    throw new ImageDecodeError('UNSUPPORTED_FORMAT', `cannot apply --perturb ${perturbationName(p)}: ${e instanceof Error ? e.message : String(e)}`, { ...(source === undefined ? {} : { source }), cause: e });
  }
}

async function degrade(input: ImageInput, p: Perturbation): Promise<Uint8Array> {
  const img = open(input);
  switch (p.kind) {
    case 'jpeg':
      return img.jpeg({ quality: p.quality, chromaSubsampling: '4:2:0' }).toBuffer();
    case 'blur':
      return img.blur(p.sigma).png().toBuffer();
    case 'gray':
      return img.grayscale().png().toBuffer();
    case 'brightness':
      return img.linear(1, p.offset).png().toBuffer();
    case 'contrast':
      return img.linear(p.factor, 128 * (1 - p.factor)).png().toBuffer();
    case 'downscale': {
      const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
      const raw = { width: info.width, height: info.height, channels: info.channels };
      const w = Math.max(1, Math.round(info.width * p.factor));
      const h = Math.max(1, Math.round(info.height * p.factor));
      const small = await sharp(data, { raw }).resize(w, h, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
      return sharp(small, { raw: { ...raw, width: w, height: h } }).resize(info.width, info.height, { fit: 'fill', kernel: 'linear' }).png().toBuffer();
    }
  }
}
