import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FaceResult } from '../src/core/analyzer.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { hasLabelIn, isClassResult, isValueResult, TASK_LABELS, type EmotionLabel, type GlassesLabel } from '../src/core/results.js';
import { media, tempDir } from './helpers/media.js';

describe('the shipped default models on multi_face.jpg (no FACESENSE_MODELS: the package models/ only)', () => {
  it('five faces; the young man top left in sunglasses, nobody else in glasses; the two men male, the three women female; smiles; no facial hair', async () => {
    // An empty modelsDir and cache: the defaults and YuNet must come from the package models/.
    const empty = await tempDir();
    const analyzer = await createAnalyzer({ store: { modelsDir: empty, cacheDir: empty, allowDownload: false }, threads: 1 });
    try {
      assert.equal(analyzer.detectorName, 'yunet (yunet_dynamic.onnx)');
      const r = await analyzer.analyze(media('multi_face.jpg'));
      assert.equal(r.faces.length, 5);
      // Typed per task: these compile under strict without casts.
      const emotion = (f: FaceResult): EmotionLabel | undefined => f.attributes.emotion?.label;
      const glasses = (f: FaceResult): GlassesLabel | undefined => f.attributes.glasses?.label;
      const age = (f: FaceResult): number | undefined => f.attributes.age?.value;
      // Faces by position (box top-left, measured): sunglasses man (216, 62), boy (434, 218),
      // women at x ≈ 314, 531 and 686.
      const byX = [...r.faces].sort((a, b) => a.boxPx.x - b.boxPx.x);
      const top = r.faces.reduce((a, b) => (b.boxPx.y < a.boxPx.y ? b : a));
      assert.ok(top.boxPx.x < 300 && top.boxPx.y < 120, 'the highest face is the man top left');
      const boy = byX.find((f) => f.boxPx.x > 400 && f.boxPx.x < 480 && f.boxPx.y > 150 && f.boxPx.y < 260);
      assert.ok(boy !== undefined);
      const women = byX.filter((f) => f !== top && f !== boy);
      assert.equal(women.length, 3);

      assert.equal(glasses(top), 'sunglasses');
      // The occlusion flag (occlusion-synth, shipped): the sunglasses hide his eyes; nobody else is occluded.
      assert.ok(top.quality?.reasons.includes('occlusion'), `sunglasses: ${JSON.stringify(top.quality)}`);
      assert.ok((top.quality?.occlusion?.eyes ?? 0) > 0.5 && top.quality?.reliable === false);
      for (const f of r.faces.filter((x) => x !== top)) {
        assert.ok(f.quality?.occlusion !== undefined && Math.max(f.quality.occlusion.eyes, f.quality.occlusion.nose, f.quality.occlusion.mouth) < 0.3, JSON.stringify(f.quality));
        assert.deepEqual(f.quality.reasons, []);
      }
      assert.ok((top.attributes.glasses?.score ?? 0) > 0.9);
      for (const f of r.faces.filter((x) => x !== top)) assert.equal(glasses(f), 'none');
      // The sunglasses man too since the default gender model is demographics-faceres (p ≈ 0.83;
      // attributes-utkface read him as female, p ≈ 0.62).
      for (const m of [boy, top]) assert.equal(m.attributes.gender?.label, 'male');
      for (const w of women) assert.equal(w.attributes.gender?.label, 'female');
      for (const f of [top, ...women]) assert.equal(emotion(f), 'happiness');
      for (const f of r.faces) {
        assert.equal(f.attributes.beard?.label, 'none');
        assert.equal(f.attributes.moustache?.label, 'none');
        const years = age(f);
        assert.ok(years !== undefined && years >= 12 && years <= 35, `age ${years}`);
        // One roll angle per face.
        assert.equal(f.pose?.rollDeg, f.alignment.rollDeg);
      }
    } finally {
      await analyzer.dispose();
    }
  });

  it('every shipped manifest labels its known tasks within the typed unions, and age is a value', async () => {
    const manifests = (await readdir('models')).filter((f) => f.endsWith('.json'));
    assert.ok(manifests.length >= 3);
    let checked = 0;
    for (const file of manifests) {
      const m = JSON.parse(await readFile(join('models', file), 'utf8')) as { outputs?: { task: string; labels: string[]; decode?: string }[] };
      for (const o of m.outputs ?? []) {
        const known = (TASK_LABELS as Record<string, readonly string[]>)[o.task];
        if (known !== undefined) {
          for (const l of o.labels) assert.ok(known.includes(l), `${file}: ${o.task} label "${l}" is not in TASK_LABELS.${o.task}`);
          checked++;
        }
        if (o.task === 'age') assert.equal(o.decode, 'expectation', `${file}: age is a number of years`);
      }
    }
    assert.ok(checked >= 6, `${checked} outputs checked`);
  });

  it('type guards narrow by kind and label', () => {
    const r = { kind: 'class', label: 'sunglasses', score: 0.9, scores: { none: 0.1, sunglasses: 0.9 } } as const;
    assert.ok(isClassResult(r) && !isValueResult(r));
    assert.ok(hasLabelIn(r, TASK_LABELS.glasses));
    assert.ok(!hasLabelIn(r, TASK_LABELS.beard));
    assert.ok(!isClassResult(undefined));
    // @ts-expect-error a label outside the union does not compile
    const bad: EmotionLabel = 'joy';
    assert.equal(bad, 'joy');
  });
});

describe('age bands: the TypeScript tables and every shipped manifest agree', () => {
  it('each shipped age output carries paper000 and fairface bands identical to src/core/age-bands.ts', async () => {
    const { FAIRFACE_AGE_BANDS, PAPER000_AGE_BANDS } = await import('../src/core/age-bands.js');
    const tables: Record<string, { labels: readonly string[]; starts: readonly number[] }> = { paper000: PAPER000_AGE_BANDS, fairface: FAIRFACE_AGE_BANDS };
    let checked = 0;
    for (const file of (await readdir('models')).filter((f) => f.endsWith('.json'))) {
      const m = JSON.parse(await readFile(join('models', file), 'utf8')) as { outputs?: { task: string; bands?: { name: string; labels: string[]; starts: number[] }[] }[] };
      for (const o of (m.outputs ?? []).filter((x) => x.task === 'age')) {
        assert.deepEqual((o.bands ?? []).map((b) => b.name).sort(), ['fairface', 'paper000'], `${file}: age bands`);
        for (const b of o.bands ?? []) {
          assert.deepEqual(b.labels, [...tables[b.name]!.labels], `${file}: ${b.name} labels`);
          assert.deepEqual(b.starts, [...tables[b.name]!.starts], `${file}: ${b.name} starts`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 8, `${checked} band tables checked`);
  });
});
