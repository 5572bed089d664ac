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
 * `brightness:B` (add B in -255..255), `contrast:C` (scale around mid-gray by C in (0, 4]),
 * `yaw:DEG` (-60..60: the image as a flat picture turned DEG degrees about its vertical centre
 * line and seen in perspective — one side narrower and nearer, the whole squeezed by cos DEG; a
 * stand-in for a head turned by that much, which no 2-D warp of a frontal photo reproduces: the
 * nose and far cheek do not move).
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
  | { readonly kind: 'contrast'; readonly factor: number }
  | { readonly kind: 'yaw'; readonly degrees: number };

export const PERTURBATION_HELP = 'jpeg:Q | blur:SIGMA | downscale:F | gray | brightness:B | contrast:C | yaw:DEG';

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
    case 'yaw':
      return { kind: 'yaw', degrees: numberIn(spec, value, -60, 60, false) };
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
    case 'yaw':
      return `yaw${p.degrees >= 0 ? '+' : ''}${p.degrees}`;
  }
}

/** Camera distance for `yaw`, in image widths: a portrait lens's moderate perspective. */
const YAW_CAMERA_DISTANCE = 1.5;

/**
 * Inverse-maps each output pixel onto the picture plane turned by `degrees` about the vertical line
 * through the centre (x' = X cos / (1 + X sin / D), y' = Y / (1 + X sin / D), D the camera
 * distance) and samples bilinearly; outside the picture repeats the edge pixels, as the training
 * augmentation does, so no black border becomes a cue.
 */
export function yawWarp(src: Uint8Array, width: number, height: number, channels: number, degrees: number): Uint8Array {
  const out = new Uint8Array(width * height * channels);
  const a = (degrees * Math.PI) / 180;
  const [c, s] = [Math.cos(a), Math.sin(a)];
  const d = YAW_CAMERA_DISTANCE * width;
  const [cx, cy] = [(width - 1) / 2, (height - 1) / 2];
  const clamp = (v: number, hi: number) => (v < 0 ? 0 : v > hi ? hi : v);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x - cx;
      const px = u / (c - (u * s) / d); // plane X seen at output column u
      const sx = clamp(px + cx, width - 1);
      const sy = clamp((y - cy) * (1 + (px * s) / d) + cy, height - 1);
      const [x0, y0] = [Math.floor(sx), Math.floor(sy)];
      const [x1, y1] = [Math.min(x0 + 1, width - 1), Math.min(y0 + 1, height - 1)];
      const [fx, fy] = [sx - x0, sy - y0];
      for (let k = 0; k < channels; k++) {
        const at = (xx: number, yy: number) => src[(yy * width + xx) * channels + k]!;
        const top = at(x0, y0) * (1 - fx) + at(x1, y0) * fx;
        const bottom = at(x0, y1) * (1 - fx) + at(x1, y1) * fx;
        out[(y * width + x) * channels + k] = Math.round(top * (1 - fy) + bottom * fy);
      }
    }
  }
  return out;
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
    case 'yaw': {
      const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
      const warped = yawWarp(data, info.width, info.height, info.channels, p.degrees);
      return sharp(warped, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer();
    }
  }
}
