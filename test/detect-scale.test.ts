import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEFAULT_DETECT_OPTIONS } from '../src/core/detect/types.js';
import type { Detection } from '../src/core/types.js';
import { createYunetDetector } from '../src/node/platform.js';
import { hasShared, loadRgb, media, SHARED_MODELS } from './helpers/media.js';

const centre = (d: Detection) => ({ x: d.boxPx.x + d.boxPx.width / 2, y: d.boxPx.y + d.boxPx.height / 2 });

test('scaleToMinFace: YuNet on the downscaled photo finds the same faces, landmarks in full-resolution pixels', { skip: !hasShared && 'needs ../shared' }, async () => {
  const image = await loadRgb(media('multi_face.jpg'));
  const detector = await createYunetDetector({ modelPath: join(SHARED_MODELS, 'yunet_dynamic.onnx'), threads: 1 });
  try {
    const full = await detector.detect(image, DEFAULT_DETECT_OPTIONS);
    assert.equal(full.length, 5);
    // Faces are 80–103 px; minFacePx 40 runs YuNet at 0.4 of the photo (0.64 without the option).
    const minFacePx = 40;
    const scaled = await detector.detect(image, { ...DEFAULT_DETECT_OPTIONS, minFacePx, scaleToMinFace: true });
    assert.equal(scaled.length, 5, `minFacePx ${minFacePx}`);
    for (const f of full) {
      const near = scaled.reduce((a, b) => (Math.hypot(centre(a).x - centre(f).x, centre(a).y - centre(f).y) <= Math.hypot(centre(b).x - centre(f).x, centre(b).y - centre(f).y) ? a : b));
      const eyes = Math.hypot(f.landmarksPx!.leftEye.x - f.landmarksPx!.rightEye.x, f.landmarksPx!.leftEye.y - f.landmarksPx!.rightEye.y);
      for (const k of ['leftEye', 'rightEye'] as const) {
        const shift = Math.hypot(near.landmarksPx![k].x - f.landmarksPx![k].x, near.landmarksPx![k].y - f.landmarksPx![k].y);
        // Mapped back to input pixels: near the full-resolution landmark. YuNet's eyes move with
        // scale (up to ~10% of the eye distance here, 5–15% at other scales), hence opt-in.
        assert.ok(shift < 0.15 * eyes, `${k} moved ${shift.toFixed(2)} px (eye distance ${eyes.toFixed(1)} px)`);
      }
    }
    // Without the option minFacePx only filters: the detector input is unchanged.
    assert.deepEqual(await detector.detect(image, { ...DEFAULT_DETECT_OPTIONS, minFacePx }), full.filter((d) => Math.min(d.boxPx.width, d.boxPx.height) >= minFacePx));
  } finally {
    await detector.dispose();
  }
});
