/**
 * How small the detector's input can be for a webcam: the same frames (single_face.mp4 at 640×480,
 * what bench/browser.ts plays as the fake webcam) analysed with the detector at reduced input sizes
 * (`detectorInputSide`) and with `detect.scaleToMinFace`, against the full 640 input: faces found,
 * landmark error as a share of the eye distance, expression label agreement and the largest
 * probability change, and time per analysed frame (variants interleaved in one process, so load hits
 * all alike). Node, onnxruntime-node: the browser runs the same core code on the same models.
 * Part of `npm run bench`; `node dist/bench/detect-size.js` runs it alone.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Analyzer, AnalyzerOptions, ImageResult } from '../src/core/analyzer.js';
import type { Landmarks5, RgbImage } from '../src/core/types.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { openVideo } from '../src/node/video/decode.js';
import { interleaved, type SpeedRow } from './speed.js';

/** The variants measured: label → analyzer options (expression only). */
export const DETECT_SIZE_VARIANTS: readonly { label: string; options: AnalyzerOptions }[] = [
  { label: 'detector input 640 (reference)', options: {} },
  { label: 'detectorInputSide 320', options: { detectorInputSide: 320 } },
  { label: 'detectorInputSide 240', options: { detectorInputSide: 240 } },
  { label: 'detectorInputSide 160', options: { detectorInputSide: 160 } },
  { label: 'detect.scaleToMinFace, minFacePx 60', options: { detect: { minFacePx: 60, scaleToMinFace: true } } },
  { label: 'detect.scaleToMinFace, minFacePx 100', options: { detect: { minFacePx: 100, scaleToMinFace: true } } },
];

const eyeDist = (l: Landmarks5) => Math.hypot(l.leftEye.x - l.rightEye.x, l.leftEye.y - l.rightEye.y);

/** Largest landmark displacement of `b` from `a`, as a share of a's eye distance. */
function landmarkError(a: Landmarks5, b: Landmarks5): number {
  const keys = ['rightEye', 'leftEye', 'nose', 'rightMouth', 'leftMouth'] as const;
  return Math.max(...keys.map((k) => Math.hypot(a[k].x - b[k].x, a[k].y - b[k].y))) / eyeDist(a);
}

function compare(ref: readonly ImageResult[], got: readonly ImageResult[]): { found: number; expected: number; meanErr: number; maxErr: number; agree: number; maxDp: number } {
  let found = 0;
  let expected = 0;
  let agree = 0;
  let maxDp = 0;
  const errs: number[] = [];
  ref.forEach((r, i) => {
    for (const f of r.faces) {
      expected++;
      const c = { x: f.boxPx.x + f.boxPx.width / 2, y: f.boxPx.y + f.boxPx.height / 2 };
      // The face of this frame whose box centre lies inside the reference box.
      const g = got[i]!.faces.find((h) => Math.abs(h.boxPx.x + h.boxPx.width / 2 - c.x) < f.boxPx.width / 2 && Math.abs(h.boxPx.y + h.boxPx.height / 2 - c.y) < f.boxPx.height / 2);
      if (g === undefined) continue;
      found++;
      if (f.landmarksPx !== undefined && g.landmarksPx !== undefined) errs.push(landmarkError(f.landmarksPx, g.landmarksPx));
      const a = f.attributes.emotion;
      const b = g.attributes.emotion;
      if (a?.kind === 'class' && b?.kind === 'class') {
        if (a.label === b.label) agree++;
        for (const [label, p] of Object.entries(a.scores ?? {})) maxDp = Math.max(maxDp, Math.abs((b.scores?.[label] ?? 0) - p));
      }
    }
  });
  return { found, expected, meanErr: errs.reduce((s, e) => s + e, 0) / Math.max(1, errs.length), maxErr: Math.max(0, ...errs), agree, maxDp };
}

export async function benchDetectSize(frames: readonly RgbImage[], label: string): Promise<SpeedRow[]> {
  const analyzers: Analyzer[] = [];
  try {
    for (const v of DETECT_SIZE_VARIANTS) analyzers.push(await createAnalyzer({ ...v.options, tasks: ['emotion'], threads: 1 }));
    const results: ImageResult[][] = [];
    for (const a of analyzers) {
      const rs: ImageResult[] = [];
      for (const f of frames) rs.push(await a.analyze(f));
      results.push(rs);
    }
    let k = 0;
    const ms = await interleaved(analyzers.map((a) => () => a.analyze(frames[k++ % frames.length]!)), 5, 6);
    return DETECT_SIZE_VARIANTS.map((v, i) => {
      const c = compare(results[0]!, results[i]!);
      return {
        bench: `detector input for a webcam: ${label}, ${v.label}`,
        value: ms[0]! / ms[i]!,
        unit: '× faster',
        note: `${ms[i]!.toFixed(1)} ms/frame (640: ${ms[0]!.toFixed(1)}); faces found ${c.found}/${c.expected}; landmark error mean ${(100 * c.meanErr).toFixed(1)}%, max ${(100 * c.maxErr).toFixed(1)}% of the eye distance; expression label same on ${c.agree}/${c.found}, max probability change ${c.maxDp.toFixed(3)}; Node, 1 thread, expression only`,
      };
    });
  } finally {
    await Promise.all(analyzers.map((a) => a.dispose()));
  }
}

/** The bench's fake-webcam frames: single_face.mp4 scaled to 640×480, `count` frames at 30 fps. */
export async function webcamFrames(media: string, count = 60): Promise<RgbImage[]> {
  const dir = await mkdtemp(join(tmpdir(), 'facesense-frames-'));
  try {
    const y4m = join(dir, 'cam.y4m');
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-nostdin', '-y', '-i', join(media, 'single_face.mp4'), '-t', '4', '-vf', 'scale=640:480,fps=30', '-pix_fmt', 'yuv420p', y4m]);
    const frames: RgbImage[] = [];
    for await (const f of await openVideo(y4m)) {
      frames.push(f.image);
      if (frames.length >= count) break;
    }
    return frames;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const media = resolve(process.cwd(), '..', 'shared', 'media');
  const rows = await benchDetectSize(await webcamFrames(media), 'single_face.mp4 640×480, 60 frames');
  for (const r of rows) process.stdout.write(`| ${r.bench} | ${r.value.toFixed(2)} | ${r.unit} | ${r.note} |\n`);
}
