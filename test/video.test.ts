import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createAnalyzer } from '../src/node/analyzer.js';
import { OptionError, VideoError } from '../src/core/errors.js';
import { ffmpegArgs, openVideo, parseShowinfo, type VideoFrame } from '../src/node/video/decode.js';
import { encoderArgs } from '../src/node/video/encode.js';
import { parseProbe, probeVideo } from '../src/node/video/probe.js';
import { createFrameAnalyzer } from '../src/core/video/stream.js';
import { runVideoJob } from '../src/jobs/video.js';
import { createSummaryAccumulator } from '../src/core/video/summary.js';
import { timelineHtml } from '../src/core/video/timeline.js';
import { media, SHARED_MODELS, tempDir } from './helpers/media.js';

const exec = promisify(execFile);
const TINY = resolve('test', 'fixtures', 'tiny-emotion.onnx');
const BIN = join(process.cwd(), 'bin', 'facesense.js');
const env = { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' };
const SINGLE = media('single_face.mp4');

const ffmpeg = (args: string[]) => exec('ffmpeg', ['-v', 'error', '-nostdin', '-y', ...args]);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, 'video', ...args], { env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function collect(frames: AsyncIterable<VideoFrame>): Promise<VideoFrame[]> {
  const out: VideoFrame[] = [];
  for await (const f of frames) out.push(f);
  return out;
}

/** single_face.mp4 cut to `fraction` of its bytes, after moving its index to the front (faststart). */
async function truncatedCopy(dir: string, fraction: number, faststart: boolean): Promise<string> {
  let src = SINGLE;
  if (faststart) {
    src = join(dir, 'faststart.mp4');
    await ffmpeg(['-i', SINGLE, '-c', 'copy', '-movflags', '+faststart', src]);
  }
  const bytes = await readFile(src);
  const out = join(dir, `truncated-${faststart ? 'faststart' : 'plain'}.mp4`);
  await writeFile(out, bytes.subarray(0, Math.floor(bytes.length * fraction)));
  return out;
}

test('probe: displayed size swaps for ±90° rotation; still images and files without video are refused', () => {
  const stream = { codec_type: 'video', codec_name: 'h264', width: 360, height: 640, avg_frame_rate: '30000/1001', nb_frames: '90', duration: '3.0' };
  const rotated = parseProbe({ streams: [{ ...stream, side_data_list: [{ rotation: -90 }] }], format: { format_name: 'mov,mp4' } }, 'phone.mp4');
  assert.deepEqual([rotated.widthPx, rotated.heightPx, rotated.codedWidthPx, rotated.rotationDeg], [640, 360, 360, 270]);
  assert.ok(Math.abs(rotated.fps! - 29.97) < 0.01);
  assert.equal(rotated.durationMs, 3000);
  const tagged = parseProbe({ streams: [{ ...stream, tags: { rotate: '180' } }], format: { format_name: 'mov,mp4' } }, 'x.mp4');
  assert.deepEqual([tagged.widthPx, tagged.heightPx, tagged.rotationDeg], [360, 640, 180]);
  assert.throws(() => parseProbe({ streams: [{ ...stream, codec_name: 'mjpeg' }], format: { format_name: 'image2' } }, 'a.jpg'), (e: VideoError) => e.code === 'UNSUPPORTED_FORMAT' && e.message.startsWith('a.jpg: a still image'));
  assert.throws(() => parseProbe({ streams: [{ codec_type: 'audio' }], format: { format_name: 'mp3' } }, 'song.mp3'), (e: VideoError) => e instanceof VideoError && /no video stream \(ffprobe found audio\)/.test(e.message));
});

test('decode helpers: ffmpeg command line, showinfo times, encoder choice', () => {
  const args = ffmpegArgs('in.mp4', { widthPx: 640, heightPx: 360 }, { every: 3, startSec: 1, endSec: 2.5 });
  // Paths reach ffmpeg as local files only: never an option (`-x.mp4`) or a protocol (`concat:`).
  assert.deepEqual(args.slice(args.indexOf('-ss'), args.indexOf('-i') + 2), ['-ss', '1', '-t', '1.5', '-protocol_whitelist', 'file', '-i', `file:${resolve('in.mp4')}`]);
  assert.equal(args[args.indexOf('-vf') + 1], 'select=not(mod(n\\,3)),scale=640:360,format=rgb24,showinfo');
  assert.equal(ffmpegArgs('in.mp4', { widthPx: 2, heightPx: 2 }, { fps: 5 })[ffmpegArgs('in.mp4', { widthPx: 2, heightPx: 2 }, { fps: 5 }).indexOf('-vf') + 1], 'fps=5,scale=2:2,format=rgb24,showinfo');
  assert.equal(parseShowinfo('[Parsed_showinfo_2 @ 0x55] [info] n:   3 pts:   7680 pts_time:0.625   pos: 92087 fmt:rgb24'), 0.625);
  assert.equal(parseShowinfo('[Parsed_showinfo_2 @ 0x55] [info] color_range:pc color_space:gbr'), undefined);
  assert.equal(parseShowinfo('[info] frame=    1 fps=0.0'), undefined);
  assert.equal(encoderArgs(' V....D libx264              libx264 H.264')[1], 'libx264');
  assert.equal(encoderArgs(' V.S... mpeg4                MPEG-4 part 2')[1], 'mpeg4');
});

test('openVideo streams RGB frames with timestamps; --every, --fps, start and end', async () => {
  const every = await openVideo(SINGLE, { every: 6 });
  assert.deepEqual([every.info.widthPx, every.info.heightPx, every.info.fps, every.info.frameCount], [640, 360, 30, 72]);
  const frames = await collect(every);
  assert.equal(frames.length, 12);
  frames.forEach((f, i) => {
    assert.equal(f.index, i);
    assert.ok(Math.abs(f.timestampMs - i * 200) < 1, `frame ${i} at ${f.timestampMs} ms`);
    assert.deepEqual([f.image.width, f.image.height, f.image.channels, f.image.data.length], [640, 360, 3, 640 * 360 * 3]);
  });
  assert.notDeepEqual(frames[0]!.image.data.subarray(0, 3000), frames[11]!.image.data.subarray(0, 3000), 'frames are distinct buffers');
  assert.equal(every.damage, undefined);
  const window = await collect(await openVideo(SINGLE, { fps: 5, startSec: 0.5, endSec: 1.5 }));
  assert.deepEqual(window.map((f) => Math.round(f.timestampMs)), [500, 700, 900, 1100, 1300]);
  await assert.rejects(openVideo(SINGLE, { fps: 5, every: 2 }), OptionError);
  await assert.rejects(openVideo(SINGLE, { startSec: 2, endSec: 1 }), OptionError);
});

test('openVideo applies rotation metadata: a portrait-coded phone video comes out upright at its displayed size', async () => {
  const dir = await tempDir();
  const coded = join(dir, 'transposed.mp4');
  const rotated = join(dir, 'rotated.mp4');
  // Store the frames turned 90° clockwise, then tag the stream to be displayed turned back.
  await ffmpeg(['-i', SINGLE, '-t', '0.2', '-an', '-vf', 'transpose=1', '-c:v', 'libx264', '-preset', 'ultrafast', coded]);
  await ffmpeg(['-i', coded, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', rotated]);
  const info = await probeVideo(rotated);
  assert.deepEqual([info.codedWidthPx, info.codedHeightPx, info.widthPx, info.heightPx, info.rotationDeg], [360, 640, 640, 360, 90]);
  const [frame] = await collect(await openVideo(rotated));
  const [original] = await collect(await openVideo(SINGLE, { endSec: 0.03 }));
  assert.deepEqual([frame!.image.width, frame!.image.height], [640, 360]);
  // Upright again: close to the original frame (lossy re-encode), far from a mirrored one.
  const diff = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]!), 0) / a.length;
  const mirrored = new Uint8Array(original!.image.data.length);
  for (let y = 0; y < 360; y++) for (let x = 0; x < 640; x++) for (let c = 0; c < 3; c++) mirrored[(y * 640 + x) * 3 + c] = original!.image.data[((359 - y) * 640 + (639 - x)) * 3 + c]!;
  assert.ok(diff(frame!.image.data, original!.image.data) < 8, 'matches the upright original');
  assert.ok(diff(frame!.image.data, mirrored) > 20, 'and not the upside-down one');
});

test('a truncated video: the frames before the damage are decoded and the damage is reported; an unreadable one is a typed error', async () => {
  const dir = await tempDir();
  const cut = await truncatedCopy(dir, 0.6, true);
  const reader = await openVideo(cut);
  const frames = await collect(reader);
  assert.ok(frames.length > 10 && frames.length < 72, `${frames.length} of 72 frames decoded`);
  assert.ok(reader.damage instanceof VideoError);
  assert.equal(reader.damage.code, 'CORRUPT_VIDEO');
  assert.equal(reader.damage.source, cut);
  assert.match(reader.damage.message, /truncated-faststart\.mp4: damaged or truncated video: \d+ frame\(s\) up to [\d.]+ s were decoded/);
  assert.match(reader.damage.message, /partial file/, 'carries the tail of ffmpeg\'s stderr');

  // single_face.mp4 keeps its index at the end: cut short, no frame can be located.
  const plain = await truncatedCopy(dir, 0.6, false);
  await assert.rejects(openVideo(plain), (e: VideoError) => e instanceof VideoError && e.code === 'CORRUPT_VIDEO' && e.source === plain && /moov atom not found/.test(e.message));
  const text = join(dir, 'notes.mp4');
  await writeFile(text, 'not a video at all\n');
  await assert.rejects(openVideo(text), (e: VideoError) => e instanceof VideoError && e.code === 'UNSUPPORTED_FORMAT' && e.message.startsWith(`${text}: not a video`));
  await assert.rejects(openVideo(media('single_face.jpg')), (e: VideoError) => e.code === 'UNSUPPORTED_FORMAT');
  await assert.rejects(openVideo(join(dir, 'missing.mp4')), (e: VideoError) => e.code === 'INPUT_NOT_FOUND');
  const empty = join(dir, 'empty.mp4');
  await writeFile(empty, '');
  await assert.rejects(openVideo(empty), (e: VideoError) => e.code === 'INPUT_EMPTY');
});

test('createFrameAnalyzer: one stable track, track-only frames between detections, smoothing, timestamps checked', async () => {
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store: { modelsDir: SHARED_MODELS, allowDownload: false }, threads: 1 });
  try {
    const frames = await collect(await openVideo(SINGLE, { every: 4 }));
    const live = createFrameAnalyzer(analyzer, { detectEvery: 3, smoothing: { kind: 'ema', alpha: 0.5 } });
    const acc = createSummaryAccumulator();
    for (const f of frames) {
      const r = await live.analyzeFrame(f.image, f.timestampMs);
      acc.add(r);
      assert.equal(r.detectionRan, f.index % 3 === 0);
      assert.equal(r.faces.length, 1);
      const face = r.faces[0]!;
      assert.equal(face.trackId, 1);
      assert.equal(face.detected, r.detectionRan);
      assert.ok(face.attributes.emotion?.kind === 'class' && face.smoothed.emotion?.kind === 'class');
      if (f.index === 0) assert.deepEqual(face.smoothed, face.attributes, 'smoothing starts at the first observation');
    }
    const [track] = acc.tracks();
    assert.equal(acc.tracks().length, 1);
    assert.deepEqual([track!.trackId, track!.frames, track!.detectedFrames], [1, 18, 6]);
    assert.ok(track!.tasks.emotion?.kind === 'class');
    const share = Object.values(track!.tasks.emotion.share).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(share - 1) < 1e-9);
    const html = timelineHtml({ source: 'single_face.mp4', durationMs: 2400, smoothing: 'ema:0.5', tracks: acc.tracks(), timelines: acc.timelines() });
    assert.match(html, /<h2>Track 1<\/h2>/);
    assert.equal((html.match(/<polyline/g) ?? []).length, 2 * 7, 'smoothed and raw line per label');
    assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/);

    await assert.rejects(live.analyzeFrame(frames[0]!.image, 0), (e: OptionError) => e instanceof OptionError && /must not decrease/.test(e.message));
    live.reset();
    const again = await live.analyzeFrame(frames[0]!.image, 0);
    assert.deepEqual([again.frameIndex, again.faces[0]!.trackId], [0, 2], 'after reset the face starts a new track; ids are not reused');
    assert.throws(() => createFrameAnalyzer(analyzer, { detectEvery: 0 }), OptionError);
  } finally {
    await analyzer.dispose();
  }
});

test('runVideoJob with 2 worker threads: the same rows in the same order as one thread, an early stop ends cleanly', async () => {
  const store = { modelsDir: SHARED_MODELS, allowDownload: false };
  const rowsOf = async (workers: number, stopAfter = Infinity) => {
    const rows: string[] = [];
    const r = await runVideoJob(SINGLE, { workers, models: [TINY], tasks: ['emotion'], store, sampling: { every: 2 } }, {
      onFrame: (f) => {
        rows.push(JSON.stringify(f.faces.map((face) => [f.frameIndex, face.trackId, face.boxPx, face.attributes, face.smoothed])));
        return rows.length < stopAfter;
      },
    });
    return { rows, framesAnalysed: r.framesAnalysed };
  };
  const one = await rowsOf(1);
  const two = await rowsOf(2);
  assert.equal(one.rows.length, 36);
  assert.deepEqual(two.rows, one.rows, 'frames analysed side by side are tracked, smoothed and written in order');
  const stopped = await rowsOf(2, 5);
  assert.deepEqual(stopped.rows, one.rows.slice(0, 5));
  assert.equal(stopped.framesAnalysed, 5);
});

test('five faces panning across the frame keep five stable track ids', async () => {
  const dir = await tempDir();
  const pan = join(dir, 'pan.mp4');
  // multi_face.jpg (1000×667, 5 faces) seen through an 800×600 window sliding 8 px per frame.
  await ffmpeg(['-loop', '1', '-framerate', '10', '-i', media('multi_face.jpg'), '-vf', "crop=800:600:x='n*8':y=30", '-frames:v', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', pan]);
  const analyzer = await createAnalyzer({ models: [TINY], tasks: ['emotion'], store: { modelsDir: SHARED_MODELS, allowDownload: false }, threads: 1 });
  try {
    const live = createFrameAnalyzer(analyzer);
    const seen: number[][] = [];
    const xs: Map<number, number>[] = [];
    for await (const f of await openVideo(pan)) {
      const r = await live.analyzeFrame(f.image, f.timestampMs);
      seen.push(r.faces.map((x) => x.trackId));
      xs.push(new Map(r.faces.map((x) => [x.trackId, x.boxPx.x])));
    }
    assert.equal(seen.length, 10);
    for (const ids of seen) assert.deepEqual(ids, [1, 2, 3, 4, 5]);
    // Each track followed its own face: its box moved left by the pan (9 × 8 px), give or take the detector's jitter.
    for (const id of [1, 2, 3, 4, 5]) {
      const moved = xs[9]!.get(id)! - xs[0]!.get(id)!;
      assert.ok(Math.abs(moved + 72) < 12, `track ${id} moved ${moved} px`);
    }
  } finally {
    await analyzer.dispose();
  }
});

test('summary thins long series to at most maxPoints by averaging neighbours', () => {
  const acc = createSummaryAccumulator({ maxPoints: 8 });
  const face = (p: number) => ({ boxPx: { x: 0, y: 0, width: 10, height: 10 }, score: 1, alignment: { rollDeg: 0, eyeDistancePx: 5 }, trackId: 1, detected: true, attributes: { e: { kind: 'class' as const, label: 'a', score: p, scores: { a: p, b: 1 - p } } }, smoothed: { e: { kind: 'class' as const, label: 'a', score: p, scores: { a: p, b: 1 - p } } } });
  for (let i = 0; i < 100; i++) acc.add({ frameIndex: i, timestampMs: i * 10, detectionRan: true, widthPx: 10, heightPx: 10, faces: [face(i / 100)], endedTrackIds: [], timings: { decodeMs: 0, detectMs: 0, alignMs: 0, inferMs: 0, totalMs: 0 } });
  const pts = acc.timelines()[0]!.series[0]!.points;
  assert.ok(pts.length <= 8 && pts.length >= 4, `${pts.length} points`);
  for (const p of pts) assert.ok(Math.abs(p[1]! - p[0]! / 1000) < 1e-9, 'each point is a mean of neighbouring (time, value) pairs');
  assert.equal(acc.tracks()[0]!.frames, 100);
});

test('summary and timeline carry the quality flags: unreliable share, reasons per track, unreliable spans', () => {
  const acc = createSummaryAccumulator({ maxPoints: 4 });
  const scores = { e: { kind: 'class' as const, label: 'a', score: 1, scores: { a: 1, b: 0 } } };
  // Track 1: unreliable on frames 2-4 (occlusion, then also yaw on 4) and 7; track 2: always reliable.
  const bad: Record<number, ('occlusion' | 'yaw')[]> = { 2: ['occlusion'], 3: ['occlusion'], 4: ['occlusion', 'yaw'], 7: ['yaw'] };
  const face = (trackId: number, reasons: readonly ('occlusion' | 'yaw')[]) => ({ boxPx: { x: 0, y: 0, width: 10, height: 10 }, score: 1, alignment: { rollDeg: 0, eyeDistancePx: 20 }, quality: { reliable: reasons.length === 0, reasons, sharpness: 500 }, trackId, detected: true, attributes: scores, smoothed: scores });
  for (let i = 0; i < 10; i++) acc.add({ frameIndex: i, timestampMs: i * 100, detectionRan: true, widthPx: 10, heightPx: 10, faces: [face(1, bad[i] ?? []), face(2, [])], endedTrackIds: [], timings: { decodeMs: 0, detectMs: 0, alignMs: 0, inferMs: 0, totalMs: 0 } });
  const [t1, t2] = acc.tracks();
  assert.deepEqual(t1!.quality, { assessedFrames: 10, unreliableFrames: 4, unreliableShare: 0.4, reasons: { occlusion: 3, yaw: 2 } });
  assert.deepEqual(t2!.quality, { assessedFrames: 10, unreliableFrames: 0, unreliableShare: 0, reasons: {} });
  const tl = acc.timelines();
  assert.deepEqual(tl[0]!.unreliable, [{ startMs: 200, endMs: 400, reasons: ['occlusion', 'yaw'] }, { startMs: 700, endMs: 700, reasons: ['yaw'] }]);
  assert.deepEqual(tl[1]!.unreliable, []);
  const html = timelineHtml({ source: 'x.mp4', durationMs: 1000, smoothing: 'none', tracks: acc.tracks(), timelines: tl });
  const [sec1, sec2] = html.split('<h2>Track 2</h2>');
  assert.equal((sec1!.match(/<rect class="unreliable"/g) ?? []).length, 2, 'one band per span in track 1\'s chart');
  assert.match(sec1!, /Unreliable on 4 of 10 frames \(40%; occlusion 3, yaw 2\)/);
  assert.match(sec1!, /<title>unreliable 0\.20–0\.40 s: occlusion, yaw<\/title>/);
  assert.doesNotMatch(sec2!, /unreliable/i, 'a reliable track has no band and no line');

  // Many short spans are bounded by merging the closest neighbours.
  const many = createSummaryAccumulator({ maxPoints: 4 });
  for (let i = 0; i < 40; i++) many.add({ frameIndex: i, timestampMs: i * 100, detectionRan: true, widthPx: 10, heightPx: 10, faces: [face(1, i % 2 === 0 ? ['yaw'] : [])], endedTrackIds: [], timings: { decodeMs: 0, detectMs: 0, alignMs: 0, inferMs: 0, totalMs: 0 } });
  const spans = many.timelines()[0]!.unreliable;
  assert.equal(spans.length, 4);
  assert.deepEqual([spans[0]!.startMs, spans[3]!.endMs], [0, 3800], 'merged spans still cover the first and last unreliable frame');
});

test('facesense video: per-frame CSV, one dominant track, summary, timeline and annotated MP4 for single_face.mp4', async () => {
  const dir = await tempDir();
  const [csv, summary, timeline, annotated] = ['rows.csv', 'summary.json', 'timeline.html', 'annotated.mp4'].map((n) => join(dir, n));
  const r = await cli([SINGLE, '--every', '2', '--out', csv!, '--summary', summary!, '--timeline', timeline!, '--annotate', annotated!]);
  assert.equal(r.code, 0, r.stderr);
  const lines = (await readFile(csv!, 'utf8')).trim().split('\n');
  const header = lines[0]!.split(',');
  for (const col of ['frame', 'time_ms', 'track', 'x_px', 'score', 'emotion_label', 'emotion_happiness', 'emotion_smoothed_label', 'emotion_smoothed_happiness']) assert.ok(header.includes(col), col);
  assert.equal(lines.length, 1 + 36);
  assert.deepEqual(new Set(lines.slice(1).map((l) => l.split(',')[2])), new Set(['1']));
  const s = JSON.parse(await readFile(summary!, 'utf8')) as { framesAnalysed: number; tracks: { trackId: number; frames: number; durationMs: number; tasks: { emotion: { dominant: string; share: Record<string, number> } } }[] };
  assert.equal(s.framesAnalysed, 36);
  assert.equal(s.tracks.length, 1);
  const t = s.tracks[0]!;
  assert.equal(t.frames, 36);
  assert.ok(t.durationMs > 2200);
  assert.equal(t.tasks.emotion.dominant, 'happiness', 'he smiles for most of the clip');
  assert.ok(t.tasks.emotion.share.happiness! > 0.5);
  assert.match(await readFile(timeline!, 'utf8'), /<svg[^>]*>.*<polyline/s);
  const probe = await exec('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'csv=p=0', annotated!]);
  assert.equal(probe.stdout.trim(), '640,360,36');
  assert.match(r.stderr, /36 frames analysed, 1 track\(s\), 36 face rows/);
});

test('facesense video: WolfgangLanger_Pexels.mp4 as JSONL, a short stretch with track-only frames', async () => {
  const r = await cli([media('WolfgangLanger_Pexels.mp4'), '--end', '2', '--every', '4', '--detect-every', '2', '--format', 'jsonl', '--smooth', 'window:3']);
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { frame: number; timeMs: number; track: number; detected: boolean; smoothed: Record<string, unknown> });
  assert.ok(rows.length >= 10, `${rows.length} rows`);
  assert.ok(rows.every((x) => x.timeMs < 2000));
  assert.ok(rows.some((x) => !x.detected) && rows.some((x) => x.detected));
  assert.ok(rows.every((x) => x.smoothed.emotion !== undefined));
});

test('facesense video: no faces → empty output, a clear message, exit 0', async () => {
  const dir = await tempDir();
  const summary = join(dir, 's.json');
  const r = await cli([media('no_face.mp4'), '--every', '6', '--summary', summary]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, 'the CSV header only');
  assert.match(r.stderr, /no faces found in .*no_face\.mp4: \d+ frames analysed, outputs are empty/);
  const s = JSON.parse(await readFile(summary, 'utf8')) as { tracks: unknown[]; framesAnalysed: number; notes: string[] };
  assert.deepEqual(s.tracks, []);
  assert.ok(s.framesAnalysed > 10);
  assert.equal(s.notes.length, 1);
});

test('facesense video: a truncated copy is analysed up to the damage, which is reported; not-a-video is a typed error', async () => {
  const dir = await tempDir();
  const cut = await truncatedCopy(dir, 0.6, true);
  const summary = join(dir, 's.json');
  const r = await cli([cut, '--every', '3', '--summary', summary]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: .*truncated-faststart\.mp4: damaged or truncated video: .* \[CORRUPT_VIDEO\]/);
  const rows = r.stdout.trim().split('\n').length - 1;
  assert.ok(rows > 5 && rows < 24, `${rows} rows`);
  const s = JSON.parse(await readFile(summary, 'utf8')) as { damage: { code: string; source: string } };
  assert.deepEqual([s.damage.code, s.damage.source], ['CORRUPT_VIDEO', cut]);
  assert.equal((await cli([cut, '--every', '3', '--strict'])).code, 1);

  const text = join(dir, 'clip.mp4');
  await writeFile(text, 'hello, I am not a video\n');
  const bad = await cli([text]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /clip\.mp4: not a video ffmpeg can read .*\[UNSUPPORTED_FORMAT\]/);
  assert.equal((await cli([SINGLE, '--fps', '5', '--every', '2'])).code, 2);
});
