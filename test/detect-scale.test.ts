import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import type { Detection } from '../src/core/types.js';
import { createYunetDetector } from '../src/node/platform.js';
import { resizeRgb } from '../src/core/resize.js';
import { hasShared, loadRgb, media, SHARED_MODELS } from './helpers/media.js';

const centre = (d: Detection) => ({ x: d.boxPx.x + d.boxPx.width / 2, y: d.boxPx.y + d.boxPx.height / 2 });

test('scaleToMinFace: YuNet on the downscaled photo finds the same faces, landmarks in full-resolution pixels', { skip: !hasShared && 'needs ../shared' }, async () => {
  const image = await loadRgb(media('multi_face.jpg'));
  const detector = await createYunetDetector({ modelPath: join(SHARED_MODELS, 'yunet_dynamic.onnx'), threads: 1 });
  try {
    const full = await detector.detect(image, DEFAULT_DETECT_OPTIONS);
    assert.equal(full.length, 5);
    // Faces are 80–103 px; minFacePx 64 runs YuNet at 0.5 of the photo (0.64 without the option).
    const minFacePx = 64;
    const scaled = await detector.detect(image, { ...DEFAULT_DETECT_OPTIONS, minFacePx, scaleToMinFace: true });
    assert.equal(scaled.length, 5, `minFacePx ${minFacePx}`);
    for (const f of full) {
      const near = scaled.reduce((a, b) => (Math.hypot(centre(a).x - centre(f).x, centre(a).y - centre(f).y) <= Math.hypot(centre(b).x - centre(f).x, centre(b).y - centre(f).y) ? a : b));
      const eyes = Math.hypot(f.landmarksPx!.leftEye.x - f.landmarksPx!.rightEye.x, f.landmarksPx!.leftEye.y - f.landmarksPx!.rightEye.y);
      for (const k of ['leftEye', 'rightEye'] as const) {
        const shift = Math.hypot(near.landmarksPx![k].x - f.landmarksPx![k].x, near.landmarksPx![k].y - f.landmarksPx![k].y);
        // Mapped back to input pixels: near the reference landmark. YuNet's eyes move by 10–16% of
        // the eye distance between any two scales here (1.0 vs 0.9 as much as 0.64 vs 0.5); a
        // mapping error would grow with 1 / scale instead (the exact test below).
        assert.ok(shift < 0.2 * eyes, `${k} moved ${shift.toFixed(2)} px (eye distance ${eyes.toFixed(1)} px)`);
      }
    }
    // Without the option minFacePx only filters: the detector input is unchanged.
    assert.deepEqual(await detector.detect(image, { ...DEFAULT_DETECT_OPTIONS, minFacePx, scaleToMinFace: false }), full.filter((d) => Math.min(d.boxPx.width, d.boxPx.height) >= minFacePx));
    // The default minFacePx (20) would scale above 1: on by default, it changes nothing there.
    assert.deepEqual(full, await detector.detect(image, { ...DEFAULT_DETECT_OPTIONS, scaleToMinFace: false }));
  } finally {
    await detector.dispose();
  }
});

test('scaleToMinFace maps back exactly: a 2× nearest-upscaled photo detected at scale 0.5 gives the original\'s boxes and landmarks', { skip: !hasShared && 'needs ../shared' }, async () => {
  const image = await loadRgb(media('multi_face.jpg'));
  const up = { data: new Uint8Array(image.data.length * 4), width: image.width * 2, height: image.height * 2, channels: 3 as const };
  for (let y = 0; y < up.height; y++) for (let x = 0; x < up.width; x++) up.data.set(image.data.subarray(3 * ((y >> 1) * image.width + (x >> 1)), 3 * ((y >> 1) * image.width + (x >> 1)) + 3), 3 * (y * up.width + x));
  // The portable resize: its 2:1 reduction of a nearest 2× upscale gives back the original pixels exactly (sharp's linear kernel does not).
  const detector = await createYunetDetector({ modelPath: join(SHARED_MODELS, 'yunet_dynamic.onnx'), threads: 1, maxInputSide: 4000, resize: resizeRgb });
  try {
    const ref = await detector.detect(image, { ...DEFAULT_DETECT_OPTIONS, scaleToMinFace: false });
    // minFacePx 64 → scale 32 / 64 = 0.5: YuNet sees the original pixels again.
    const got = await detector.detect(up, { ...DEFAULT_DETECT_OPTIONS, minFacePx: 64, scaleToMinFace: true });
    assert.equal(got.length, ref.length);
    for (const [i, r] of ref.entries()) {
      const g = got[i]!;
      for (const k of ['leftEye', 'rightEye', 'nose', 'leftMouth', 'rightMouth'] as const) {
        assert.ok(Math.abs(g.landmarksPx![k].x - 2 * r.landmarksPx![k].x) < 1e-3 && Math.abs(g.landmarksPx![k].y - 2 * r.landmarksPx![k].y) < 1e-3, `${k}`);
      }
      assert.ok(Math.abs(g.boxPx.width - 2 * r.boxPx.width) < 1e-3);
    }
  } finally {
    await detector.dispose();
  }
});
