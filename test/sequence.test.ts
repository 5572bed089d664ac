import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { foldOfSplit, groupSequences, type SequencePackMeta } from '../src/data/sequence-pack.js';
import type { Sample } from '../src/data/types.js';
import { DatasetError, ModelError } from '../src/core/errors.js';
import { readNpy } from '../src/io/npy.js';
import { validateManifest, type ModelManifest } from '../src/core/models/manifest.js';
import { softmax } from '../src/core/postprocess.js';
import type { FrameResult, TrackedFace } from '../src/core/video/stream.js';
import {
  checkFrameModel,
  createSequenceClassifier,
  createTrackSequencer,
  parseSequenceWindow,
  resolveSequenceModel,
  validateSequenceManifest,
  type SequenceManifest,
} from '../src/node/video/sequence.js';
import { writeCkplus48, writeCkplusOriginal } from './fixtures/datasets.js';
import { hasShared, media, SHARED_MODELS, tempDir } from './helpers/media.js';

const exec = promisify(execFile);
const BIN = join(process.cwd(), 'bin', 'facesense.js');
const TINY = resolve('test', 'fixtures', 'tiny-sequence.onnx');
const SHIPPED = resolve('models', 'emotion-sequence-ckplus.onnx');
const env = { ...process.env, FACESENSE_MODELS: SHARED_MODELS, FACESENSE_OFFLINE: '1' };

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const sample = (id: string, sequence: string, subject: string, label: number, split = 'fold0'): Sample => ({
  id,
  split,
  image: { kind: 'file', path: `/data/${id}` },
  labels: { emotion: label },
  subject,
  sequence,
});

/** The fixture's input: sin(0.1 * (i + 1)) over the flat index of [n, t, d] (training/sequence.py synthetic_sequence). */
function synthetic(n: number, t: number, d: number): Float32Array[][] {
  return Array.from({ length: n }, (_, a) => Array.from({ length: t }, (_, b) => Float32Array.from({ length: d }, (_, c) => Math.sin(0.1 * ((a * t + b) * d + c + 1)))));
}

describe('sequence packs', () => {
  it('groups frames by sequence in file order and refuses sequences whose frames disagree', () => {
    const groups = groupSequences([sample('b/S1_001_3.png', 'S1_001', 'S1', 2), sample('a/S2_001_1.png', 'S2_001', 'S2', 0), sample('b/S1_001_2.png', 'S1_001', 'S1', 2)], 'emotion');
    assert.deepEqual(
      groups.map((g) => [g.id, g.subject, g.label, g.samples.map((s) => s.id)]),
      [
        ['S1_001', 'S1', 2, ['b/S1_001_2.png', 'b/S1_001_3.png']],
        ['S2_001', 'S2', 0, ['a/S2_001_1.png']],
      ],
    );
    assert.throws(
      () => groupSequences([sample('x1', 'S1_001', 'S1', 2), sample('x2', 'S1_001', 'S1', 3)], 'emotion'),
      (e: unknown) => e instanceof DatasetError && /\/data\/x2/.test(e.message) && /sequence S1_001 has label 3/.test(e.message),
    );
    assert.throws(() => groupSequences([{ ...sample('x1', 'S', 'S', 1), sequence: undefined } as unknown as Sample], 'emotion'), /no sequence or subject id/);
    assert.equal(foldOfSplit('fold7'), 7);
    assert.equal(foldOfSplit('all'), null);
  });

  it('prepare-sequences writes embeddings, scores and per-sequence folds for CK+48', async () => {
    const dir = await tempDir();
    await writeCkplus48(join(dir, 'ck'));
    const out = join(dir, 'pack');
    const r = await cli(['prepare-sequences', '--root', join(dir, 'ck'), '--out', out, '--folds', '2']);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8')) as SequencePackMeta;
    assert.equal(meta.format, 'facesense-sequence-pack');
    assert.equal(meta.sequences.length, 7);
    assert.equal(meta.frames, 21);
    assert.deepEqual(meta.sequences[0], { id: 'S010_004', subject: 'S010', split: meta.sequences[0]?.split, fold: foldOfSplit(meta.sequences[0]?.split ?? ''), label: 0, start: 0, length: 3 });
    assert.ok(meta.sequences.every((s, i) => s.start === i * 3 && s.length === 3 && (s.fold === 0 || s.fold === 1)));
    // Subject-independent: a subject's sequences share a fold.
    const s010 = meta.sequences.filter((s) => s.subject === 'S010');
    assert.equal(new Set(s010.map((s) => s.fold)).size, 1);
    assert.equal(meta.frameModel.id, 'emotion-ferplus');
    assert.equal(meta.skipped.count, 2); // the bad file name and the unknown "neutral" folder
    // FER+ labels onto CK+ classes: every class has a source, neutral is dropped.
    assert.deepEqual(meta.scoreSources.map((s) => s.map((i) => meta.scores.labels[i])), [['anger'], ['contempt'], ['disgust'], ['fear'], ['happiness'], ['sadness'], ['surprise']]);
    const emb = await readNpy(join(out, 'embeddings.npy'));
    const scores = await readNpy(join(out, 'scores.npy'));
    assert.deepEqual(emb.shape, [21, meta.embedding.size]);
    assert.deepEqual(scores.shape, [21, 8]);
    const row0 = Array.from((scores.data as Float32Array).slice(0, 8));
    assert.ok(Math.abs(row0.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  });

  it('prepare-sequences takes every frame of the original layout with --frames all', async () => {
    const dir = await tempDir();
    await writeCkplusOriginal(join(dir, 'ck'));
    const out = join(dir, 'pack');
    const r = await cli(['prepare-sequences', '--root', join(dir, 'ck'), '--out', out, '--folds', '2']);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8')) as SequencePackMeta;
    assert.deepEqual(
      meta.sequences.map((s) => [s.id, s.length, meta.classes[s.label]]),
      [
        ['S005_001', 5, 'disgust'],
        ['S010_001', 6, 'surprise'],
      ],
    );
    const bad = await cli(['prepare-sequences', '--root', join(dir, 'ck'), '--out', out, '--layout', 'fer2013-csv']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--layout must be ckplus/);
  });
});

describe('sequence models', () => {
  it('the tiny sequence ONNX gives the logits PyTorch gave on the synthetic sequence', async () => {
    const { manifest, modelPath } = await resolveSequenceModel(TINY);
    const expected = JSON.parse(await readFile(TINY.replace(/\.onnx$/, '.expected.json'), 'utf8')) as { dims: [number, number, number]; logits: number[][] };
    const [n, t, d] = expected.dims;
    assert.equal(d, manifest.input.size);
    const classifier = await createSequenceClassifier(modelPath, manifest, { threads: 1 });
    try {
      for (const [i, frames] of synthetic(n, t, d).entries()) {
        const r = await classifier.classify(frames);
        const want = softmax(expected.logits[i]!);
        manifest.outputs[0].labels.forEach((l, k) => assert.ok(Math.abs(r.scores[l]! - want[k]!) < 1e-4, `${l}: ${r.scores[l]} vs ${want[k]}`));
        assert.equal(r.label, manifest.outputs[0].labels[want.indexOf(Math.max(...want))]);
      }
      await assert.rejects(classifier.classify([]), /at least one frame/);
      await assert.rejects(classifier.classify([new Float32Array(d + 1)]), /frame 0 has 9 numbers, expected 8/);
    } finally {
      await classifier.dispose();
    }
  });

  it('manifests are validated with the file named, and must fit their frame model', async () => {
    const { manifest } = await resolveSequenceModel(TINY);
    assert.throws(() => validateSequenceManifest({ ...manifest, window: 0 }, 'x.json'), (e: unknown) => e instanceof ModelError && /^x\.json: .*"window"/.test(e.message));
    assert.throws(() => validateSequenceManifest({ ...manifest, kind: undefined }, 'y.json'), /y\.json: .*"kind" must be "sequence"/);
    // Passed where an image model is expected (--model), it says where it belongs.
    assert.throws(() => validateManifest(manifest, 'z.json'), /z\.json: .*--sequence-model/);
    const frame = { id: 'emotion-ferplus', embedding: { name: 'embedding', size: 8 } } as unknown as ModelManifest;
    checkFrameModel(manifest, frame, 'tiny');
    assert.throws(() => checkFrameModel(manifest, { ...frame, embedding: { name: 'embedding', size: 256 } }, 'tiny'), /reads 8-d embeddings; emotion-ferplus gives 256-d/);
    assert.throws(() => checkFrameModel(manifest, { ...frame, id: 'emotion-fer2013' }, 'tiny'), /reads emotion-ferplus embeddings, not emotion-fer2013's/);
    const pinned: SequenceManifest = { ...manifest, input: { ...manifest.input, frameModel: { id: 'emotion-ferplus', sha256: 'a'.repeat(64) } } };
    assert.throws(() => checkFrameModel(pinned, { ...frame, sha256: 'b'.repeat(64) } as ModelManifest, 'tiny'), /retrain it/);
    assert.equal(parseSequenceWindow(undefined, 3), 3);
    assert.equal(parseSequenceWindow('track', 3), 'track');
    assert.throws(() => parseSequenceWindow('0', 3), /--sequence-window/);
    await assert.rejects(resolveSequenceModel('./nowhere/x.onnx'), (e: unknown) => e instanceof ModelError && e.code === 'MODEL_NOT_FOUND');
  });

  it('a track sequencer predicts over sliding windows per track and forgets ended tracks', async () => {
    const { manifest, modelPath } = await resolveSequenceModel(TINY);
    const classifier = await createSequenceClassifier(modelPath, manifest, { threads: 1 });
    const seqs = synthetic(2, 5, 8);
    const face = (trackId: number, e: Float32Array | undefined): TrackedFace => ({
      boxPx: { x: 0, y: 0, width: 10, height: 10 },
      score: 1,
      alignment: { rollDeg: 0, eyeDistancePx: 4 },
      attributes: {},
      smoothed: {},
      trackId,
      detected: true,
      ...(e === undefined ? {} : { embeddings: { 'emotion-ferplus': Array.from(e) } }),
    });
    const frame = (i: number, faces: TrackedFace[], ended: number[] = []): FrameResult => ({
      frameIndex: i,
      timestampMs: i * 40,
      detectionRan: true,
      widthPx: 10,
      heightPx: 10,
      faces,
      endedTrackIds: ended,
      timings: { decodeMs: 0, detectMs: 0, alignMs: 0, inferMs: 0, totalMs: 0 },
    });
    try {
      const windowed = createTrackSequencer(classifier, 'emotion-ferplus', 2);
      assert.equal(windowed.task, 'emotion_sequence');
      let last: FrameResult | undefined;
      for (let i = 0; i < 5; i++) last = await windowed.step(frame(i, [face(1, seqs[0]![i]), face(2, i === 4 ? undefined : seqs[1]![i])]));
      const direct = await classifier.classify(seqs[0]!.slice(3, 5));
      const got = last?.faces[0]?.attributes['emotion_sequence'];
      assert.ok(got?.kind === 'class');
      assert.deepEqual(got.scores, direct.scores);
      assert.deepEqual(last?.faces[0]?.smoothed['emotion_sequence'], got);
      // A face without an embedding (too small to classify) gets no sequence prediction.
      assert.equal(last?.faces[1]?.attributes['emotion_sequence'], undefined);
      assert.deepEqual(await windowed.finish(), []);

      const whole = createTrackSequencer(classifier, 'emotion-ferplus', 'track');
      for (let i = 0; i < 5; i++) await whole.step(frame(i, i < 3 ? [face(1, seqs[0]![i]), face(2, seqs[1]![i])] : [face(2, seqs[1]![i])], i === 3 ? [1] : []));
      const tracks = await whole.finish();
      assert.deepEqual(
        tracks.map((t) => [t.trackId, t.frames]),
        [
          [1, 3],
          [2, 5],
        ],
      );
      assert.deepEqual(tracks[1]?.result.scores, (await classifier.classify(seqs[1]!)).scores);
    } finally {
      await classifier.dispose();
    }
  });

  it('facesense video --sequence-model adds window predictions to rows and summary, or one per track', { skip: !hasShared || !existsSync(SHIPPED) ? 'needs ../shared media and models/emotion-sequence-ckplus' : false }, async () => {
    const dir = await tempDir();
    const summary = join(dir, 's.json');
    const r = await cli(['video', media('single_face.mp4'), '--tasks', 'emotion', '--every', '3', '--sequence-model', 'emotion-sequence-ckplus', '--summary', summary]);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.trim().split('\n');
    const cols = header!.split(',');
    const at = cols.indexOf('emotion_sequence_label');
    assert.ok(at > 0, header);
    const labels = ['anger', 'contempt', 'disgust', 'fear', 'happy', 'sadness', 'surprise'];
    assert.ok(rows.length > 10 && rows.every((row) => labels.includes(row.split(',')[at]!)));
    const s = JSON.parse(await readFile(summary, 'utf8')) as {
      sequenceModel: { id: string; window: number };
      tracks: { tasks: Record<string, { kind: string; dominant: string; meanScores: Record<string, number> }> }[];
    };
    assert.equal(s.sequenceModel.id, 'emotion-sequence-ckplus');
    const t = s.tracks[0]?.tasks['emotion_sequence'];
    assert.ok(t !== undefined && labels.includes(t.dominant));
    assert.ok(Math.abs(Object.values(t.meanScores).reduce((a, b) => a + b, 0) - 1) < 1e-6);

    const wholeSummary = join(dir, 'w.json');
    const w = await cli(['video', media('single_face.mp4'), '--tasks', 'emotion', '--every', '3', '--sequence-model', SHIPPED, '--sequence-window', 'track', '--summary', wholeSummary]);
    assert.equal(w.code, 0, w.stderr);
    assert.ok(!w.stdout.split('\n')[0]!.includes('emotion_sequence'));
    const ws = JSON.parse(await readFile(wholeSummary, 'utf8')) as { tracks: { frames: number; sequence?: { label: string; frames: number } }[] };
    assert.ok(labels.includes(ws.tracks[0]?.sequence?.label ?? ''));
    assert.equal(ws.tracks[0]?.sequence?.frames, ws.tracks[0]?.frames);

    const mismatch = await cli(['video', media('single_face.mp4'), '--sequence-model', TINY]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stderr, /tiny-sequence\.json: sequence model tiny-sequence reads 8-d embeddings/);
  });
});
