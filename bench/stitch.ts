/**
 * `npm run bench:stitch`: how large the track-boundary effects of segmented video are. Each video
 * of ../shared/media is analysed once whole (as `facesense video` does) and once as segments of
 * --segment-sec seconds with --overlap-sec of overlap (as queue workers do), then stitched; the
 * table compares the two (src/queue/segments.ts: compareStitched).
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createAnalyzer } from '../src/node/analyzer.js';
import { analyzeSegment, compareStitched, planSegments, stitchSegments } from '../src/queue/segments.js';
import { probeVideo } from '../src/node/video/probe.js';

const MEDIA = resolve(process.cwd(), '..', 'shared', 'media');
const { values } = parseArgs({ options: { 'segment-sec': { type: 'string', default: '5' }, 'overlap-sec': { type: 'string', default: '0.5' }, json: { type: 'boolean', default: false } } });
const segmentSec = Number(values['segment-sec']);
const overlapSec = Number(values['overlap-sec']);
const analyzer = await createAnalyzer({ store: { modelsDir: process.env.FACESENSE_MODELS ?? resolve('..', 'shared', 'models') } });
const out = [];
try {
  for (const name of readdirSync(MEDIA).filter((n) => n.endsWith('.mp4')).sort()) {
    const path = join(MEDIA, name);
    const info = await probeVideo(path);
    const single = await analyzeSegment(analyzer, path, { index: 0, startSec: 0, endSec: Number.POSITIVE_INFINITY, overlapSec: 0 }).catch((e: Error) => e);
    if (single instanceof Error) {
      out.push({ video: name, error: single.message });
      continue;
    }
    const plan = planSegments((info.durationMs ?? 0) / 1000, segmentSec, overlapSec);
    const parts = [];
    for (const p of plan) parts.push(await analyzeSegment(analyzer, path, p));
    const { frames, links } = stitchSegments(parts);
    out.push({ video: name, seconds: (info.durationMs ?? 0) / 1000, segments: plan.length, links, ...compareStitched(single.frames, frames) });
  }
} finally {
  await analyzer.dispose();
}
if (values.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
else {
  process.stdout.write(`segments of ${segmentSec} s, ${overlapSec} s overlap; tasks ${analyzer.tasks.map((t) => t.task).join(',')}\n`);
  process.stdout.write('video | s | segments | links | frames single/stitched | tracks single/stitched | rows same smoothed labels | max |Δ mean score| | dominant changed\n');
  for (const r of out) {
    if ('error' in r) process.stdout.write(`${r.video} | error: ${r.error}\n`);
    else process.stdout.write(`${r.video} | ${r.seconds.toFixed(1)} | ${r.segments} | ${r.links} | ${r.framesSingle}/${r.framesStitched} | ${r.tracksSingle}/${r.tracksStitched} | ${r.rowsSameLabel}/${r.rows} (${((100 * r.rowsSameLabel) / Math.max(1, r.rows)).toFixed(1)}%) | ${r.maxMeanScoreDiff.toFixed(4)} | ${r.dominantChanged}\n`);
  }
}
