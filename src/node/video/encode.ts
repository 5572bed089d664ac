/**
 * Annotated video output: each analysed frame with its tracked faces drawn (src/annotate.ts's SVG
 * overlay composited by sharp) is piped as raw RGB into ffmpeg, which encodes H.264 (libx264) or,
 * where the ffmpeg build lacks it, MPEG-4 part 2. The output is constant-rate at the sampled
 * frame rate.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import sharp from 'sharp';
import { overlaySvg } from '../annotate.js';
import { OptionError, VideoError } from '../../core/errors.js';
import type { RgbImage } from '../../core/types.js';
import { DEFAULT_VIDEO_TOOLS, fileUrl, runTool, stderrTail, toolError, type VideoTools } from './probe.js';
import type { TrackedFace } from '../../core/video/stream.js';

export interface AnnotatedVideoWriter {
  write(frame: RgbImage, faces: readonly TrackedFace[]): Promise<void>;
  /** Finishes the file; throws VideoError when ffmpeg failed. */
  close(): Promise<void>;
  /** Stops ffmpeg without finishing the file (after an error elsewhere). */
  abort(): void;
}

/** The encoder arguments for the codecs this ffmpeg build has, preferring H.264. */
export function encoderArgs(encoders: string): string[] {
  return /^\s*V\S*\s+libx264\s/m.test(encoders)
    ? ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', '-pix_fmt', 'yuv420p']
    : ['-c:v', 'mpeg4', '-q:v', '4', '-pix_fmt', 'yuv420p'];
}

/** How long the encoder may refuse frames (a stalled ffmpeg) before it is stopped. */
const ENCODER_STALL_MS = 120_000;

export async function createAnnotatedVideoWriter(
  outPath: string,
  opts: { readonly widthPx: number; readonly heightPx: number; readonly fps: number; readonly tools?: VideoTools },
): Promise<AnnotatedVideoWriter> {
  const tools = opts.tools ?? DEFAULT_VIDEO_TOOLS;
  if (!(opts.fps > 0)) throw new OptionError(`the annotated video needs a positive frame rate (got ${opts.fps})`);
  const listing = await runTool(tools.ffmpeg, ['-hide_banner', '-encoders'], outPath);
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${opts.widthPx}x${opts.heightPx}`, '-r', String(opts.fps), '-i', 'pipe:0',
    // 4:2:0 chroma needs even sizes.
    '-vf', 'pad=ceil(iw/2)*2:ceil(ih/2)*2',
    ...encoderArgs(listing.stdout),
    '-movflags', '+faststart', fileUrl(outPath),
  ];
  const proc = spawn(tools.ffmpeg, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  let failure: VideoError | undefined;
  proc.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-4000)));
  proc.once('error', (e: NodeJS.ErrnoException) => (failure ??= toolError(tools.ffmpeg, e, outPath)));
  proc.stdin.on('error', (e) => (failure ??= new VideoError('VIDEO_ENCODE_FAILED', `ffmpeg stopped taking frames: ${e.message}`, { source: outPath, cause: e })));
  const closed = new Promise<number | null>((resolve) => proc.once('close', resolve));

  return {
    async write(frame, faces) {
      if (failure !== undefined) throw failure;
      const svg = overlaySvg(frame.width, frame.height, faces.map((f) => ({ ...f, attributes: f.smoothed })), faces.map((f) => `id ${f.trackId}`));
      const raw = await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 }, limitInputPixels: false })
        .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
        .removeAlpha()
        .raw()
        .toBuffer();
      // ffmpeg may exit (unwritable target, full disk) while we wait: do not wait for a drain forever.
      if (!proc.stdin.write(raw)) {
        let timer: NodeJS.Timeout | undefined;
        const stalled = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), ENCODER_STALL_MS)));
        const how = await Promise.race([once(proc.stdin, 'drain'), closed, stalled]);
        clearTimeout(timer);
        if (how === 'stalled') {
          proc.kill('SIGKILL');
          throw new VideoError('VIDEO_ENCODE_FAILED', `ffmpeg took no frame for ${ENCODER_STALL_MS / 1000} s and was stopped`, { source: outPath });
        }
        if (proc.exitCode !== null || proc.signalCode !== null) throw failure ?? new VideoError('VIDEO_ENCODE_FAILED', `ffmpeg stopped taking frames: ${stderrTail(stderr)}`, { source: outPath });
      }
    },
    async close() {
      proc.stdin.end();
      const code = await closed;
      if (failure !== undefined) throw failure;
      if (code !== 0) throw new VideoError('VIDEO_ENCODE_FAILED', `ffmpeg could not write the annotated video (exit code ${code}): ${stderrTail(stderr)}`, { source: outPath });
    },
    abort() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
