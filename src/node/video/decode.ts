/**
 * Video decode stage: ffmpeg as a child process streams raw RGB frames on its stdout
 * (`-f rawvideo -pix_fmt rgb24`); only one frame is held at a time, so memory stays flat however
 * long the video. Timestamps come from ffmpeg's `showinfo` filter on stderr. Rotation metadata is
 * applied by ffmpeg's default autorotation; the probe gives the displayed size.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { FacesenseError, OptionError, VideoError } from '../../core/errors.js';
import type { RgbImage } from '../../core/types.js';
import { DEFAULT_VIDEO_TOOLS, FILE_ONLY, fileUrl, probeVideo, toolError, type VideoInfo, type VideoTools } from './probe.js';

/** Which frames to decode. Give at most one of `fps` and `every`. */
export interface SamplingOptions {
  /** Sample this many frames per second of video (ffmpeg's fps filter). @default undefined (every frame) */
  readonly fps?: number;
  /** Keep every Nth decoded frame. @default 1 */
  readonly every?: number;
  /** Start, in seconds from the beginning. @default 0 */
  readonly startSec?: number;
  /** End, in seconds from the beginning. @default the end of the video */
  readonly endSec?: number;
  /** Refuse videos whose frames have more pixels than this (checked on the probe, before decoding). @default 100_000_000 */
  readonly pixelLimit?: number;
  /** Stop ffmpeg when it produces no frame for this long (a stalled or hostile file). @default 120_000 */
  readonly stallTimeoutMs?: number;
  /** Stop decoding: ffmpeg is killed and the iteration throws a FacesenseError `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** Highest sampling rate accepted (frames per second). */
export const MAX_SAMPLING_FPS = 1000;
/** Frame budget when the probe gives no duration: about 3 hours at 30 frames/s. */
const MAX_FRAMES_UNKNOWN = 324_000;

export interface VideoFrame {
  /** Index of the frame among the sampled ones, from 0. */
  readonly index: number;
  /** Presentation time from the start of the video, in milliseconds. */
  readonly timestampMs: number;
  readonly image: RgbImage;
}

export interface VideoReader extends AsyncIterable<VideoFrame> {
  readonly info: VideoInfo;
  /** Frames per second of the sampled stream (nominal; undefined when the video does not say). */
  readonly sampledFps: number | undefined;
  /**
   * After an iteration ended: the damage ffmpeg reported (decode errors, a truncated file), or
   * undefined. Frames before the damage were yielded. An iteration that yields no frame at all
   * throws this error instead.
   */
  readonly damage: VideoError | undefined;
}

export function validateSampling(s: SamplingOptions): void {
  if (s.fps !== undefined && s.every !== undefined) throw new OptionError('give --fps or --every, not both');
  if (s.fps !== undefined && !(typeof s.fps === 'number' && s.fps > 0 && s.fps <= MAX_SAMPLING_FPS)) throw new OptionError(`fps must be a number > 0 and ≤ ${MAX_SAMPLING_FPS} (got ${s.fps})`);
  if (s.every !== undefined && !(Number.isInteger(s.every) && s.every >= 1 && s.every <= 1_000_000)) throw new OptionError(`every must be an integer ≥ 1 and ≤ 1000000 (got ${s.every})`);
  if (s.pixelLimit !== undefined && !(Number.isInteger(s.pixelLimit) && s.pixelLimit >= 1)) throw new OptionError(`pixelLimit must be a positive integer (got ${s.pixelLimit})`);
  if (s.startSec !== undefined && !(s.startSec >= 0 && Number.isFinite(s.startSec))) throw new OptionError(`start must be ≥ 0 seconds (got ${s.startSec})`);
  if (s.endSec !== undefined && !(s.endSec > (s.startSec ?? 0) && Number.isFinite(s.endSec))) throw new OptionError(`end must be after start (got end ${s.endSec}, start ${s.startSec ?? 0})`);
}

/** The ffmpeg command line that streams `info`'s frames as RGB24 at its displayed size. */
export function ffmpegArgs(path: string, info: Pick<VideoInfo, 'widthPx' | 'heightPx'> & Partial<Pick<VideoInfo, 'fps' | 'durationMs'>>, s: SamplingOptions): string[] {
  const start = s.startSec ?? 0;
  const maxFrames = frameCap(info, s);
  const filters = [
    ...(s.fps !== undefined ? [`fps=${s.fps}`] : []),
    ...(s.every !== undefined && s.every > 1 ? [`select=not(mod(n\\,${s.every}))`] : []),
    // Pins the frame size so the byte stream stays in step even if the stream changes resolution.
    `scale=${info.widthPx}:${info.heightPx}`,
    'format=rgb24',
    'showinfo',
  ];
  return [
    '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'level+info',
    ...(start > 0 ? ['-ss', String(start)] : []),
    ...(s.endSec !== undefined ? ['-t', String(s.endSec - start)] : []),
    ...FILE_ONLY, '-i', fileUrl(path),
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', filters.join(','),
    // One output frame per filtered frame: no duplicates or drops to a constant rate (ffmpeg ≥ 5.1).
    '-fps_mode', 'passthrough',
    '-frames:v', String(maxFrames),
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1',
  ];
}

/**
 * Most frames the sampling can produce, from the probe: the span times the sampled rate (never
 * above the source rate), with 10% slack; a fixed budget when the video does not say. A file that
 * claims more (or an fps filter asked to invent frames) cannot flood the analyser.
 */
export function frameCap(info: Partial<Pick<VideoInfo, 'fps' | 'durationMs'>>, s: SamplingOptions): number {
  const span = (s.endSec ?? (info.durationMs === undefined ? Number.NaN : info.durationMs / 1000)) - (s.startSec ?? 0);
  const src = info.fps ?? 60;
  const rate = Math.min(s.fps ?? src, src) / (s.every ?? 1);
  const n = Math.ceil(span * rate * 1.1) + 10;
  return Number.isFinite(n) && n > 0 ? Math.min(n, MAX_FRAMES_UNKNOWN * 10) : MAX_FRAMES_UNKNOWN;
}

/** `pts_time` in seconds from one `showinfo` frame line, or undefined for any other line. */
export function parseShowinfo(line: string): number | null | undefined {
  if (!line.includes('Parsed_showinfo')) return undefined;
  const m = /\bn:\s*\d+\s+pts:\s*\S+\s+pts_time:(\S+)/.exec(line);
  if (m === null) return undefined;
  const t = Number(m[1]);
  return Number.isFinite(t) ? t : null;
}

const ERROR_LINE = /\[(error|fatal|panic)\]/;

/** Collects ffmpeg's stderr: frame times in order, error lines, and a short tail. */
function collectLog(stderr: NodeJS.ReadableStream) {
  const times: (number | null)[] = [];
  const errors: string[] = [];
  const tail: string[] = [];
  let errorCount = 0;
  let ended = false;
  let wake: (() => void) | undefined;
  const rl = createInterface({ input: stderr, crlfDelay: Infinity });
  rl.on('line', (line) => {
    const t = parseShowinfo(line);
    if (t !== undefined) times.push(t);
    else if (!line.includes('Parsed_showinfo')) {
      const clean = line.replace(/^\[[^\]]+ @ 0x[0-9a-f]+\] /, '').trim();
      if (ERROR_LINE.test(line)) {
        errorCount++;
        errors.push(clean);
        if (errors.length > 5) errors.shift();
      }
      tail.push(clean);
      if (tail.length > 8) tail.shift();
    }
    wake?.();
  });
  rl.once('close', () => {
    ended = true;
    wake?.();
  });
  return {
    errors,
    tail,
    get errorCount() {
      return errorCount;
    },
    /** The next frame's time in seconds; null when ffmpeg did not log one. */
    async nextTime(): Promise<number | null> {
      while (times.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      return times.length > 0 ? times.shift()! : null;
    },
    async closed(): Promise<void> {
      while (!ended) await new Promise<void>((r) => (wake = r));
    },
  };
}

/** Probes `path` and returns a reader that streams its frames (ffmpeg starts when iteration does). */
/** Frames per second after sampling (`--fps` capped at the video's rate, or its rate / `--every`); undefined when the video's rate is unknown. */
export function sampledFpsOf(info: Pick<VideoInfo, 'fps'>, sampling: SamplingOptions): number | undefined {
  const fps = sampling.fps !== undefined && info.fps !== undefined ? Math.min(sampling.fps, info.fps) : sampling.fps;
  return fps ?? (info.fps === undefined ? undefined : info.fps / (sampling.every ?? 1));
}

export async function openVideo(path: string, sampling: SamplingOptions = {}, tools: VideoTools = DEFAULT_VIDEO_TOOLS): Promise<VideoReader> {
  validateSampling(sampling);
  const info = await probeVideo(path, tools);
  const pixelLimit = sampling.pixelLimit ?? 100_000_000;
  if (info.widthPx * info.heightPx > pixelLimit) {
    throw new VideoError('PIXEL_LIMIT_EXCEEDED', `frames are ${info.widthPx}×${info.heightPx} = ${((info.widthPx * info.heightPx) / 1e6).toFixed(1)} MP, over the pixel limit of ${(pixelLimit / 1e6).toFixed(1)} MP; nothing was decoded`, { source: path });
  }
  // Sampling faster than the source only repeats frames: cap the rate at the probed one.
  if (sampling.fps !== undefined && info.fps !== undefined && sampling.fps > info.fps) sampling = { ...sampling, fps: info.fps };
  const args = ffmpegArgs(path, info, sampling);
  const stallMs = sampling.stallTimeoutMs ?? 120_000;
  const frameBytes = info.widthPx * info.heightPx * 3;
  const startMs = (sampling.startSec ?? 0) * 1000;
  const sampledFps = sampledFpsOf(info, sampling);
  let damage: VideoError | undefined;

  async function* frames(): AsyncGenerator<VideoFrame> {
    damage = undefined;
    const proc = spawn(tools.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let spawnError: VideoError | undefined;
    const exited = new Promise<number | null>((resolve) => {
      proc.once('error', (e: NodeJS.ErrnoException) => {
        spawnError = toolError(tools.ffmpeg, e, path);
        resolve(null);
      });
      proc.once('close', (code) => resolve(code));
    });
    const log = collectLog(proc.stderr);
    let index = 0;
    let lastMs = startMs;
    let buf = Buffer.allocUnsafe(frameBytes);
    let filled = 0;
    // Watchdog: only time spent waiting on ffmpeg counts, not time the caller spends per frame.
    let waitingSince: number | undefined;
    let stalled = false;
    const watchdog = setInterval(() => {
      if (waitingSince !== undefined && Date.now() - waitingSince > stallMs) {
        stalled = true;
        proc.kill('SIGKILL');
      }
    }, Math.min(1000, stallMs));
    const chunks = (proc.stdout as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    try {
      for (;;) {
        waitingSince = Date.now();
        const next = await chunks.next();
        waitingSince = undefined;
        if (next.done === true) break;
        if (sampling.signal?.aborted === true) throw new FacesenseError('ABORTED', `aborted by the caller (AbortSignal) after ${index} frame(s)`, { source: path, cause: sampling.signal.reason });
        const chunk = next.value;
        let off = 0;
        while (off < chunk.length) {
          const n = Math.min(frameBytes - filled, chunk.length - off);
          chunk.copy(buf, filled, off, off + n);
          filled += n;
          off += n;
          if (filled < frameBytes) continue;
          const t = await log.nextTime();
          // Without a logged time (never seen in practice), step by the nominal rate.
          const timestampMs = t !== null ? startMs + t * 1000 : index === 0 ? startMs : lastMs + 1000 / (sampledFps ?? 30);
          lastMs = timestampMs;
          yield { index, timestampMs, image: { data: new Uint8Array(buf.buffer, buf.byteOffset, frameBytes), width: info.widthPx, height: info.heightPx, channels: 3 } };
          index++;
          buf = Buffer.allocUnsafe(frameBytes);
          filled = 0;
        }
      }
      const code = await exited;
      await log.closed();
      if (spawnError !== undefined) throw spawnError;
      if (stalled) {
        damage = new VideoError('CORRUPT_VIDEO', `ffmpeg produced no frame for ${stallMs / 1000} s and was stopped after ${index} frame(s)`, { source: path });
        if (index === 0) throw damage;
        return;
      }
      if (code !== 0 || log.errorCount > 0 || filled > 0) {
        const said = (log.errors.length > 0 ? log.errors : log.tail.slice(-3)).join(' | ');
        const where = index === 0 ? 'no frame could be decoded' : `${index} frame(s) up to ${(lastMs / 1000).toFixed(2)} s were decoded and analysed, later ones are lost or damaged`;
        const expected = info.durationMs === undefined ? '' : ` (video is ${(info.durationMs / 1000).toFixed(2)} s long)`;
        damage = new VideoError('CORRUPT_VIDEO', `damaged or truncated video: ${where}${expected}; ffmpeg exit code ${code}, ${log.errorCount} error(s): ${said}`, { source: path });
        if (index === 0) throw damage;
      }
    } finally {
      clearInterval(watchdog);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    }
  }

  return {
    info,
    sampledFps,
    get damage() {
      return damage;
    },
    [Symbol.asyncIterator]: frames,
  };
}
