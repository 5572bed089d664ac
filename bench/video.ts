/**
 * Video throughput: frames per second through decode (ffmpeg) → detect/track → classify on a
 * 640×480 single-face clip (single_face.mp4 scaled and looped 3×: 216 frames), with detection on
 * every frame and on every 5th. Part of `npm run bench`; `node dist/bench/video.js` runs it alone.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Analyzer } from '../src/core/analyzer.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { openVideo } from '../src/node/video/decode.js';
import { createFrameAnalyzer } from '../src/core/video/stream.js';
import { runVideoJob } from '../src/jobs/video.js';
import type { ModelStoreOptions } from '../src/node/models/store.js';
import type { StageTimings } from '../src/core/analyzer.js';
import { stageRow } from './stages.js';

export interface VideoBenchRow { bench: string; value: number; unit: string; note: string }

/** `label` names the analyzer's tasks in the rows (e.g. "all tasks", "emotion only"). */
export async function benchVideo(analyzer: Analyzer, media: string, label = 'all tasks'): Promise<VideoBenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'facesense-bench-'));
  try {
    const clip = join(dir, 'single_face_640x480.mp4');
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-stream_loop', '2', '-i', join(media, 'single_face.mp4'), '-an', '-vf', 'scale=640:480', '-c:v', 'libx264', '-crf', '18', clip]);
    const rows: VideoBenchRow[] = [];
    for (const detectEvery of [1, 5]) {
      const live = createFrameAnalyzer(analyzer, { detectEvery });
      let frames = 0;
      let faces = 0;
      let t0 = 0;
      const timings: StageTimings[] = [];
      // Decode here is ffmpeg's: the wait for the next frame (the frame's own decodeMs is the raw-pixel check).
      let waitStart = performance.now();
      for await (const f of await openVideo(clip)) {
        const waited = performance.now() - waitStart;
        const r = await live.analyzeFrame(f.image, f.timestampMs);
        faces += r.faces.length;
        if (frames > 0 && r.detectionRan) timings.push({ ...r.timings, decodeMs: r.timings.decodeMs + waited, totalMs: r.timings.totalMs + waited });
        frames++;
        waitStart = performance.now();
        // The first frame warms the sessions up; time the rest.
        if (frames === 1) t0 = performance.now();
      }
      const fps = ((frames - 1) * 1000) / (performance.now() - t0);
      rows.push({ bench: `video 640×480, 1 face, detect every ${detectEvery === 1 ? 'frame' : `${detectEvery} frames`}, ${label}`, value: fps, unit: 'frames/s', note: `${frames} frames, ${faces} face rows; ffmpeg decode included` });
      if (detectEvery === 1) rows.push(stageRow(`video 640×480 detect every frame, ${label}`, timings, 1, 'ms/frame'));
    }
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * What `facesense video` does (runVideoJob: ffmpeg → frame analyzer → tracking, smoothing, the
 * summary), detection on every frame, every default task, with 1 and 2 worker threads, on the clip
 * looped 10× (720 frames: the workers' warm-up is a small share). The job's own clock: from the
 * first frame asked for to the last one written, models loaded before.
 */
export async function benchVideoJob(media: string, store: ModelStoreOptions, workers: readonly number[] = [1, 2]): Promise<VideoBenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'facesense-bench-'));
  try {
    const clip = join(dir, 'single_face_640x480_x10.mp4');
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-stream_loop', '9', '-i', join(media, 'single_face.mp4'), '-an', '-vf', 'scale=640:480', '-c:v', 'libx264', '-crf', '18', clip]);
    const rows: VideoBenchRow[] = [];
    for (const w of workers) {
      const r = await runVideoJob(clip, { workers: w, store });
      rows.push({ bench: `video job (facesense video) 640×480, detect every frame, all tasks, ${w} worker thread${w > 1 ? 's' : ''}`, value: r.framesAnalysed / r.seconds, unit: 'frames/s', note: `${r.framesAnalysed} frames, ${r.faceRows} face rows in ${r.seconds.toFixed(1)} s; ffmpeg decode, tracking and smoothing included` });
    }
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const shared = resolve(process.cwd(), '..', 'shared');
  const store = { modelsDir: process.env.FACESENSE_MODELS ?? join(shared, 'models'), allowDownload: false };
  const analyzer = await createAnalyzer({ store });
  try {
    const rows = [...(await benchVideo(analyzer, join(shared, 'media'))), ...(await benchVideoJob(join(shared, 'media'), store))];
    for (const r of rows) process.stdout.write(`| ${r.bench} | ${r.value.toFixed(1)} | ${r.unit} | ${r.note} |\n`);
  } finally {
    await analyzer.dispose();
  }
}
