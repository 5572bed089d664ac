/**
 * Video probe: container, codec, size as displayed (rotation metadata applied), duration and frame
 * rate, read by the ffprobe binary (Debian's `ffmpeg` package). Nothing is downloaded.
 */
import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { VideoError } from '../../core/errors.js';

/** ffmpeg and ffprobe executables. */
export interface VideoTools {
  /** @default 'ffmpeg' (looked up on PATH) */
  readonly ffmpeg: string;
  /** @default 'ffprobe' (looked up on PATH) */
  readonly ffprobe: string;
}

export const DEFAULT_VIDEO_TOOLS: VideoTools = Object.freeze({ ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' });

export interface VideoInfo {
  readonly source: string;
  /** ffprobe's container name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  readonly container: string;
  readonly codec: string;
  /** Size of the frames as displayed, i.e. after the rotation metadata is applied (ffmpeg autorotates). */
  readonly widthPx: number;
  readonly heightPx: number;
  /** Size as stored in the stream. */
  readonly codedWidthPx: number;
  readonly codedHeightPx: number;
  /** Display rotation from the stream's display matrix (or `rotate` tag), in [0, 360). */
  readonly rotationDeg: number;
  /** Undefined when the container does not say. */
  readonly durationMs: number | undefined;
  /** Average frame rate; undefined when unknown. */
  readonly fps: number | undefined;
  /** Frames in the stream according to the container's index; undefined when unknown. */
  readonly frameCount: number | undefined;
}

interface ProbeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  nb_frames?: string;
  duration?: string;
  tags?: Record<string, string>;
  side_data_list?: { rotation?: number | string }[];
  disposition?: { attached_pic?: number };
}

interface ProbeJson {
  streams?: ProbeStream[];
  format?: { format_name?: string; duration?: string };
}

function rate(r: string | undefined): number | undefined {
  if (r === undefined) return undefined;
  const [n, d] = r.split('/').map(Number);
  const v = d === undefined ? n : n! / d;
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
}

function positive(s: string | undefined): number | undefined {
  const v = s === undefined ? Number.NaN : Number(s);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/** Still-image demuxers: ffmpeg reads a JPEG as a one-frame "video", but it is not one. */
const IMAGE_CONTAINER = /^(image2|.*_pipe)$/;

/** ffprobe's JSON → VideoInfo. Throws VideoError naming `source` when there is no video stream. */
export function parseProbe(json: ProbeJson, source: string): VideoInfo {
  const container = json.format?.format_name ?? '';
  const v = json.streams?.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1 && (s.width ?? 0) > 0 && (s.height ?? 0) > 0);
  if (v === undefined) throw new VideoError('UNSUPPORTED_FORMAT', `no video stream (ffprobe found ${json.streams?.map((s) => s.codec_type).join(', ') || 'no streams'}); give a video file`, { source });
  if (IMAGE_CONTAINER.test(container)) throw new VideoError('UNSUPPORTED_FORMAT', `a still image (${v.codec_name ?? container}), not a video; use \`facesense analyze\` for images`, { source });
  const side = v.side_data_list?.find((d) => d.rotation !== undefined)?.rotation ?? v.tags?.rotate ?? 0;
  const rot = ((Math.round(Number(side) || 0) % 360) + 360) % 360;
  const swap = rot === 90 || rot === 270;
  const w = v.width!;
  const h = v.height!;
  const duration = positive(v.duration) ?? positive(json.format?.duration);
  return {
    source,
    container,
    codec: v.codec_name ?? 'unknown',
    widthPx: swap ? h : w,
    heightPx: swap ? w : h,
    codedWidthPx: w,
    codedHeightPx: h,
    rotationDeg: rot,
    durationMs: duration === undefined ? undefined : duration * 1000,
    fps: rate(v.avg_frame_rate) ?? rate(v.r_frame_rate),
    frameCount: positive(v.nb_frames),
  };
}

export interface ToolRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** How long a one-shot tool run (ffprobe, ffmpeg -encoders) may take before it is killed. */
export const TOOL_TIMEOUT_MS = 60_000;
/** Most output a one-shot tool run may print; more is a sign of a hostile file, and is cut. */
const TOOL_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * A path as ffmpeg/ffprobe must see it: a file, never a protocol (`concat:a|b`, `http:`) or an
 * option (`-x.mp4`). Used with `-protocol_whitelist file`.
 */
export function fileUrl(path: string): string {
  return `file:${resolvePath(path)}`;
}

/** Input options that keep ffmpeg/ffprobe to local files (no network, no concat/subfile tricks). */
export const FILE_ONLY = ['-protocol_whitelist', 'file'] as const;

/** Runs a tool to completion, collecting its output (capped); a missing binary, or one that runs past `timeoutMs`, is a typed error. */
export function runTool(bin: string, args: readonly string[], source: string, timeoutMs = TOOL_TIMEOUT_MS): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.stdout.on('data', (b: Buffer) => (outBytes += b.length) <= TOOL_OUTPUT_BYTES && out.push(b));
    proc.stderr.on('data', (b: Buffer) => (errBytes += b.length) <= TOOL_OUTPUT_BYTES && err.push(b));
    proc.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(toolError(bin, e, source));
    });
    proc.once('close', (code) => {
      clearTimeout(timer);
      if (timedOut) reject(new VideoError('CORRUPT_VIDEO', `${bin} did not finish within ${timeoutMs / 1000} s and was stopped`, { source }));
      else resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export function toolError(bin: string, e: NodeJS.ErrnoException, source: string): VideoError {
  return e.code === 'ENOENT'
    ? new VideoError('VIDEO_TOOL_MISSING', `"${bin}" was not found on PATH; video needs ffmpeg and ffprobe (Debian: apt-get install ffmpeg)`, { source, cause: e })
    : new VideoError('VIDEO_TOOL_MISSING', `cannot run "${bin}": ${e.message}`, { source, cause: e });
}

/** The last `n` non-empty lines of a tool's stderr, for error messages. */
export function stderrTail(stderr: string, n = 4): string {
  return stderr.split('\n').map((l) => l.trim()).filter(Boolean).slice(-n).join(' | ');
}

/** Probes `path`: missing, empty, not a video, or an MP4 whose index is gone → typed VideoError. */
export async function probeVideo(path: string, tools: VideoTools = DEFAULT_VIDEO_TOOLS): Promise<VideoInfo> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new VideoError('INPUT_UNREADABLE', 'not a regular file', { source: path });
    size = st.size;
  } catch (e) {
    if (e instanceof VideoError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new VideoError(code === 'ENOENT' ? 'INPUT_NOT_FOUND' : 'INPUT_UNREADABLE', code === 'ENOENT' ? 'file not found' : `cannot read: ${(e as Error).message}`, { source: path, cause: e });
  }
  if (size === 0) throw new VideoError('INPUT_EMPTY', 'the file is empty', { source: path });
  const run = await runTool(tools.ffprobe, ['-v', 'error', ...FILE_ONLY, '-show_format', '-show_streams', '-of', 'json', fileUrl(path)], path);
  if (run.code !== 0) {
    const head = Buffer.alloc(12);
    const fh = await open(path, 'r');
    try {
      await fh.read(head, 0, 12, 0);
    } finally {
      await fh.close();
    }
    if (head.toString('latin1', 4, 8) === 'ftyp') {
      // MP4/MOV keeps its index (moov) at the end unless written "faststart": a file cut off
      // before the index has frames no reader can locate.
      throw new VideoError(
        'CORRUPT_VIDEO',
        `an MP4/MOV file whose index cannot be read (ffprobe: ${stderrTail(run.stderr, 2)}): it is truncated or was not finalised, and with the index at the end no frame can be located. ` +
          'Recordings written with the index first (ffmpeg -movflags +faststart) or as fragmented MP4 stay readable up to the damage',
        { source: path },
      );
    }
    throw new VideoError('UNSUPPORTED_FORMAT', `not a video ffmpeg can read (ffprobe: ${stderrTail(run.stderr, 2)})`, { source: path });
  }
  let json: ProbeJson;
  try {
    json = JSON.parse(run.stdout) as ProbeJson;
  } catch (e) {
    throw new VideoError('UNSUPPORTED_FORMAT', 'ffprobe gave unreadable output', { source: path, cause: e });
  }
  return parseProbe(json, path);
}
