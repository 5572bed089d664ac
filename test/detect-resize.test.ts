/**
 * The detector's input resize is a platform choice (src/core/platform.ts `resize`): Node injects
 * sharp's (faster on large photos), the browser keeps the core's pure-TypeScript one. Both give
 * the same faces; the landmarks and probabilities differ only by the resamplers' rounding.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OptionError } from '../src/core/errors.js';
import type { ImageResult } from '../src/core/analyzer.js';
import { createAnalyzer } from '../src/node/analyzer.js';
import { hasShared, media } from './helpers/media.js';

const byX = (r: ImageResult) => [...r.faces].sort((a, b) => a.boxPx.x - b.boxPx.x);

test('detectorResize sharp (Node default) and portable (the browser\'s) find the same faces on multi_face.jpg', { skip: !hasShared && 'needs ../shared' }, async () => {
  const sharpA = await createAnalyzer({ threads: 1, tasks: ['emotion'] });
  const portable = await createAnalyzer({ threads: 1, tasks: ['emotion'], detectorResize: 'portable' });
  try {
    // 1000×667: the detector input is a real downscale (to 640×427), so the two resamplers differ.
    const a = byX(await sharpA.analyze(media('multi_face.jpg')));
    const b = byX(await portable.analyze(media('multi_face.jpg')));
    assert.equal(a.length, 5);
    assert.equal(b.length, 5);
    let maxShift = 0;
    let maxDp = 0;
    let differs = false;
    a.forEach((f, i) => {
      const g = b[i]!;
      const eyes = Math.hypot(f.landmarksPx!.leftEye.x - f.landmarksPx!.rightEye.x, f.landmarksPx!.leftEye.y - f.landmarksPx!.rightEye.y);
      for (const k of ['leftEye', 'rightEye', 'nose', 'rightMouth', 'leftMouth'] as const) {
        const shift = Math.hypot(f.landmarksPx![k].x - g.landmarksPx![k].x, f.landmarksPx![k].y - g.landmarksPx![k].y);
        maxShift = Math.max(maxShift, shift / eyes);
        if (shift > 0) differs = true;
      }
      const ea = f.attributes.emotion!;
      const eb = g.attributes.emotion!;
      assert.ok(ea.kind === 'class' && eb.kind === 'class');
      assert.equal(ea.label, eb.label, `face ${i}`);
      for (const [label, p] of Object.entries(ea.scores ?? {})) maxDp = Math.max(maxDp, Math.abs(p - eb.scores![label]!));
    });
    assert.ok(differs, 'the two resizes are really different code paths');
    assert.ok(maxShift < 0.03, `landmarks within 3% of the eye distance (largest ${(100 * maxShift).toFixed(2)}%)`);
    // Measured: 0.042 at most. The classifiers react to landmark shifts of a pixel or two (the
    // aligned crop moves), which is why the browser tests compare with detectorResize 'portable'.
    assert.ok(maxDp < 0.08, `probabilities within 0.08 (largest ${maxDp.toFixed(4)})`);
    console.log(`sharp vs portable detector resize on multi_face.jpg: landmarks within ${(100 * maxShift).toFixed(2)}% of the eye distance, probabilities within ${maxDp.toFixed(4)}`);
  } finally {
    await sharpA.dispose();
    await portable.dispose();
  }
});

test('detectorResize other than sharp or portable is an OptionError', async () => {
  await assert.rejects(createAnalyzer({ detectorResize: 'lanczos' as never }), (e: unknown) => e instanceof OptionError && /detectorResize/.test((e as Error).message));
});
